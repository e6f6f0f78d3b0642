"""`json.reliable.webpubsub.azure.v1`: sequence ids, acks, and recovery after a dropped socket."""

from __future__ import annotations

import socket
from urllib.parse import urlencode

import pytest
from websockets.exceptions import ConnectionClosed

from tests.devhost.pubsub.support import HUB, JSON, Client, RunningService
from tests.waiting import wait_until


def drop(client: Client) -> None:
    """End the TCP connection under the client without a WebSocket closing handshake."""
    client.ws.socket.shutdown(socket.SHUT_RDWR)


def recovery_url(running: RunningService, client: Client, token: str | None = None) -> str:
    query = urlencode(
        {
            "awps_connection_id": client.connection_id,
            "awps_reconnection_token": token or client.connected["reconnectionToken"],
        }
    )
    return f"{running.service.base_url.replace('http://', 'ws://')}/client/hubs/{HUB}?{query}"


def numbered(messages: list[dict]) -> list[tuple[int, int]]:
    return [(m["sequenceId"], m["data"]["n"]) for m in messages]


def assert_refused(client: Client) -> None:
    """The service accepted the socket only to close it with 1008 (the session is gone)."""
    with pytest.raises(ConnectionClosed):
        client.next()
    assert client.ws.close_code == 1008


def test_recovery_replays_unacked_messages_once_and_in_order(pubsub, open_client):
    sdk = pubsub.sdk()
    client = open_client(sdk.get_client_access_token(user_id="r", groups=["g"])["url"])
    for n in (1, 2, 3):
        sdk.send_to_user("r", {"n": n})
    assert numbered([client.next() for _ in range(3)]) == [(1, 1), (2, 2), (3, 3)]
    client.ack(2)

    drop(client)
    for n in (4, 5, 6):
        sdk.send_to_user("r", {"n": n})
    recovered = open_client(recovery_url(pubsub, client), expect_connected=False)
    sdk.send_to_group("g", {"n": 7})  # groups survive the recovery

    replayed = [recovered.next() for _ in range(5)]
    assert numbered(replayed) == [(3, 3), (4, 4), (5, 5), (6, 6), (7, 7)]
    recovered.sync()  # the pong is next: nothing was delivered twice
    assert recovered.pending == []
    assert pubsub.connection(client.connection_id).unacked == 5

    recovered.ack(7)
    assert pubsub.connection(client.connection_id).unacked == 0
    drop(recovered)
    sdk.send_to_user("r", {"n": 8})
    again = open_client(recovery_url(pubsub, client), expect_connected=False)
    assert numbered([again.next()]) == [(8, 8)]
    assert sdk.connection_exists(client.connection_id)


def test_the_session_is_gone_after_the_recovery_window(start_service, open_client):
    running = start_service(reconnect_window_seconds=0.2)
    sdk = running.sdk()
    client = open_client(sdk.get_client_access_token(user_id="late")["url"])
    drop(client)
    wait_until(lambda: running.connections() == 0, what="the dropped session to expire")

    assert_refused(open_client(recovery_url(running, client), expect_connected=False))
    fresh = open_client(sdk.get_client_access_token(user_id="late")["url"])
    assert fresh.connection_id != client.connection_id


def test_recovery_needs_the_connections_own_token(pubsub, open_client):
    sdk = pubsub.sdk()
    url = sdk.get_client_access_token(user_id="u")["url"]
    first, second = open_client(url), open_client(url)
    drop(first)

    stolen = recovery_url(pubsub, first, token=second.connected["reconnectionToken"])
    assert_refused(open_client(stolen, expect_connected=False))
    garbage = recovery_url(pubsub, first, token="garbage")
    assert_refused(open_client(garbage, expect_connected=False))


def test_only_reliable_connections_recover(pubsub, open_client):
    sdk = pubsub.sdk()
    reliable = open_client(sdk.get_client_access_token(user_id="u")["url"])
    plain = open_client(sdk.get_client_access_token(user_id="p")["url"], JSON)
    drop(plain)
    wait_until(lambda: pubsub.connection(plain.connection_id) is None, what="the plain one gone")

    plain.connected["reconnectionToken"] = reliable.connected["reconnectionToken"]
    assert_refused(open_client(recovery_url(pubsub, plain), expect_connected=False))


def test_a_client_that_closes_normally_ends_its_session(pubsub, open_client):
    client = open_client(pubsub.sdk().get_client_access_token(user_id="bye")["url"])
    client.ws.close(1000)
    wait_until(lambda: pubsub.connections() == 0, what="the closed session to end")
    assert_refused(open_client(recovery_url(pubsub, client), expect_connected=False))


def test_the_unacked_buffer_is_bounded(start_service, open_client):
    running = start_service(max_queue=3)
    sdk = running.sdk()
    client = open_client(sdk.get_client_access_token(user_id="u")["url"])
    drop(client)
    for n in range(3):
        sdk.send_to_user("u", {"n": n})
    assert running.connection(client.connection_id).unacked == 3

    sdk.send_to_user("u", {"n": 3})  # one more than the buffer holds: the session is dropped

    assert running.connection(client.connection_id) is None
    assert_refused(open_client(recovery_url(running, client), expect_connected=False))


def test_a_reader_that_never_acks_is_disconnected_with_a_reason(start_service, open_client):
    running = start_service(max_queue=3)
    sdk = running.sdk()
    client = open_client(sdk.get_client_access_token(user_id="u")["url"])
    for n in range(3):
        sdk.send_to_user("u", {"n": n})
    assert numbered([client.next() for _ in range(3)]) == [(1, 0), (2, 1), (3, 2)]

    sdk.send_to_user("u", {"n": 3})  # read but never acknowledged: the buffer is full

    with pytest.raises(ConnectionClosed):
        client.next()
    assert client.ws.close_code == 1008
    assert client.ws.close_reason == "The reliable message buffer is full."
    assert running.call(running.service.registry.count) == 0
