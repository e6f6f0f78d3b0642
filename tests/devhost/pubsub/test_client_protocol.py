"""The client endpoint: token checks at connect, roles, acks, and the JSON subprotocol rules."""

from __future__ import annotations

import logging

import pytest
from websockets.exceptions import ConnectionClosedError, InvalidStatus

from tests.devhost.pubsub.support import HUB, OTHER_KEY, data_of


def refused_status(open_client, url: str) -> int:
    with pytest.raises(InvalidStatus) as raised:
        open_client(url)
    return raised.value.response.status_code


def test_bad_tokens_are_refused_at_connect(pubsub, open_client):
    base = pubsub.service.base_url
    sdk = pubsub.sdk()
    expired = sdk.get_client_access_token(user_id="u", minutes_to_expire=-10)["url"]
    assert refused_status(open_client, expired) == 401

    other_key = pubsub.sdk(connection_string=f"Endpoint={base};AccessKey={OTHER_KEY};Version=1.0;")
    assert refused_status(open_client, other_key.get_client_access_token(user_id="u")["url"]) == 401

    # Signed with the right key, but for another endpoint and for another hub.
    elsewhere = pubsub.sdk(
        connection_string=f"Endpoint=http://elsewhere.invalid:9;AccessKey={pubsub.service.access_key};"
    )
    hub_url = f"{base.replace('http://', 'ws://')}/client/hubs/{HUB}"
    token = elsewhere.get_client_access_token(user_id="u")["token"]
    assert refused_status(open_client, f"{hub_url}?access_token={token}") == 401
    other_hub = pubsub.sdk(hub="other").get_client_access_token(user_id="u")["token"]
    assert refused_status(open_client, f"{hub_url}?access_token={other_hub}") == 401

    assert refused_status(open_client, hub_url) == 401
    assert pubsub.call(pubsub.service.registry.count) == 0


def test_the_configured_endpoint_is_an_accepted_audience(start_service, open_client):
    running = start_service(endpoint="http://localhost:8080")
    sdk = running.sdk(
        connection_string=f"Endpoint=http://localhost:8080;AccessKey={running.service.access_key};"
    )
    token = sdk.get_client_access_token(user_id="u")["token"]
    ws_base = running.service.base_url.replace("http://", "ws://")
    client = open_client(f"{ws_base}/client/hubs/{HUB}?access_token={token}")
    assert client.connected["userId"] == "u"


def test_a_client_without_roles_cannot_join_or_send(pubsub, open_client):
    sdk = pubsub.sdk()
    member = open_client(sdk.get_client_access_token(user_id="ops1", groups=["ops"])["url"])
    nobody = open_client(sdk.get_client_access_token(user_id="nobody")["url"])

    join = nobody.request({"type": "joinGroup", "group": "ops", "ackId": 1})
    assert join["success"] is False
    assert join["error"]["name"] == "Forbidden"
    send = nobody.request(
        {"type": "sendToGroup", "group": "ops", "ackId": 2, "dataType": "text", "data": "psst"}
    )
    assert send["error"]["name"] == "Forbidden"
    assert not pubsub.connection(nobody.connection_id).groups

    # Nothing reached the group: the member's next message is the marker sent afterwards.
    sdk.send_to_connection(member.connection_id, {"marker": 1})
    assert data_of(member.next()) == {"marker": 1}


def test_roles_for_one_group_and_group_messages(pubsub, open_client):
    sdk = pubsub.sdk()
    roles = ["webpubsub.joinLeaveGroup.ops", "webpubsub.sendToGroup.ops"]
    sender = open_client(sdk.get_client_access_token(user_id="s", roles=roles)["url"])
    listener = open_client(sdk.get_client_access_token(user_id="l", groups=["ops"])["url"])

    assert sender.request({"type": "joinGroup", "group": "ops", "ackId": 1})["success"]
    other = sender.request({"type": "joinGroup", "group": "dev", "ackId": 2})
    assert other["error"]["name"] == "Forbidden"

    sender.request({"type": "sendToGroup", "group": "ops", "ackId": 3, "data": {"x": 1}})
    for client in (sender, listener):
        message = client.next()
        assert message["from"] == "group"
        assert message["group"] == "ops"
        assert message["fromUserId"] == "s"
        assert message["data"] == {"x": 1}

    frame = {"type": "sendToGroup", "group": "ops", "ackId": 4, "noEcho": True}
    sender.request({**frame, "dataType": "text", "data": "quiet"})
    assert data_of(listener.next()) == "quiet"
    sender.sync()  # the pong came first: no echo was sent to the sender
    assert sender.pending == []

    assert sender.request({"type": "leaveGroup", "group": "ops", "ackId": 5})["success"]
    assert "ops" not in pubsub.connection(sender.connection_id).groups


def test_wildcard_group_roles(pubsub, open_client):
    sdk = pubsub.sdk()
    roles = ["webpubsub.joinLeaveGroups.team.*"]
    client = open_client(sdk.get_client_access_token(user_id="w", roles=roles)["url"])
    assert client.request({"type": "joinGroup", "group": "team.red", "ackId": 1})["success"]
    deep = client.request({"type": "joinGroup", "group": "team.red.x", "ackId": 2})
    assert deep["error"]["name"] == "Forbidden"


def test_a_repeated_ack_id_is_answered_duplicate_and_not_run_twice(pubsub, open_client):
    sdk = pubsub.sdk()
    roles = ["webpubsub.sendToGroup"]
    sender = open_client(sdk.get_client_access_token(user_id="s", roles=roles)["url"])
    listener = open_client(sdk.get_client_access_token(user_id="l", groups=["g"])["url"])
    frame = {"type": "sendToGroup", "group": "g", "ackId": 7, "data": {"once": True}}

    assert sender.request(frame)["success"] is True
    duplicate = sender.request(frame)
    assert duplicate["success"] is False
    assert duplicate["error"]["name"] == "Duplicate"

    sdk.send_to_connection(listener.connection_id, {"marker": 1})
    assert data_of(listener.next()) == {"once": True}
    assert data_of(listener.next()) == {"marker": 1}


def test_events_have_no_upstream_and_fail_their_ack(pubsub, open_client):
    client = open_client(pubsub.sdk().get_client_access_token(user_id="u")["url"])
    ack = client.request({"type": "event", "event": "hello", "ackId": 1, "data": {}})
    assert ack["success"] is False
    assert ack["error"]["name"] == "InternalServerError"


def test_a_malformed_frame_closes_the_connection(pubsub, open_client):
    client = open_client(pubsub.sdk().get_client_access_token(user_id="u")["url"])
    client.ws.send("{not json")
    assert client.next()["event"] == "disconnected"
    with pytest.raises(ConnectionClosedError):
        client.next()
    assert client.ws.close_code == 1007
    assert pubsub.connection(client.connection_id) is None


def test_one_log_line_per_event_and_never_a_token(pubsub, open_client, caplog):
    caplog.set_level(logging.INFO)
    sdk = pubsub.sdk()
    access = sdk.get_client_access_token(user_id="logged")
    client = open_client(access["url"])
    sdk.send_to_user("logged", {"n": 1})
    client.next()
    assert refused_status(open_client, access["url"] + "tampered") == 401
    sdk.close_connection(client.connection_id)
    client.next()

    lines = [r.getMessage() for r in caplog.records if r.name.startswith(("devhost", "aiohttp"))]
    for start in (
        "pubsub connect hub=chat",
        "pubsub rest POST /api/hubs/chat/users/logged/:send -> 202",
        "pubsub refused hub=chat",
        "pubsub disconnect hub=chat",
    ):
        assert any(line.startswith(start) for line in lines), start
    text = "\n".join(lines)
    reconnection = client.connected["reconnectionToken"]
    for secret in (access["token"], reconnection, "access_token", "Bearer"):
        assert secret not in text
