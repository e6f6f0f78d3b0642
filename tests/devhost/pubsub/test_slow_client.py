"""A client that stops reading is disconnected when its bounded queue overflows."""

from __future__ import annotations

import os

import pytest
from websockets.exceptions import ConnectionClosed

from tests.devhost.pubsub.support import JSON

MESSAGE = 256 * 1024
# Far more than the socket buffers, the writer's buffer and the queue hold together.
MAX_SENDS = 400


def test_a_client_that_never_reads_is_dropped_and_forgotten(start_service, open_client):
    running = start_service(max_queue=4, close_timeout_seconds=60)
    sdk = running.sdk()
    url = sdk.get_client_access_token(user_id="slow", groups=["g"])["url"]
    # Flow control on: the client stops reading its socket once one frame is buffered.
    slow = open_client(url, JSON, receive_buffer=4096, max_queue=1)
    healthy = open_client(sdk.get_client_access_token(user_id="ok")["url"], JSON)
    blob = os.urandom(MESSAGE)

    sent = 0
    while running.connection(slow.connection_id) is not None:
        assert sent < MAX_SENDS, "the slow client was never dropped"
        sdk.send_to_connection(slow.connection_id, blob, content_type="application/octet-stream")
        sent += 1
        assert running.queued(slow.connection_id) <= 4

    # Its memory is released: no connection, no group, no user left behind.
    assert running.call(running.service.registry.count) == 1
    assert not sdk.user_exists("slow")
    assert not sdk.group_exists("g")

    # Reading again, it finds what was already on the wire and then the close, with a reason.
    received = 0
    with pytest.raises(ConnectionClosed):
        while True:
            assert slow.next(timeout=30)["dataType"] == "binary"
            received += 1
    print(f"dropped after {sent} sends; {received} had reached the client")
    assert received < sent
    assert slow.ws.close_code == 1008
    assert slow.ws.close_reason == "The outbound message queue is full."

    # Other clients were not affected.
    sdk.send_to_all({"still": "here"})
    assert healthy.next()["data"] == {"still": "here"}
