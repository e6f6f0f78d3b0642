"""The real Python SDK publishing through the local service to real WebSocket clients."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
import requests
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
)
from azure.core.rest import HttpRequest

from tests.devhost.pubsub.support import HUB, JSON, OTHER_KEY, RELIABLE, data_of


def test_send_to_user_reaches_both_of_its_connections_and_no_one_else(pubsub, open_client):
    sdk = pubsub.sdk()
    url_a = sdk.get_client_access_token(user_id="alice")["url"]
    first, second = open_client(url_a), open_client(url_a, JSON)
    bob = open_client(sdk.get_client_access_token(user_id="bob")["url"])

    sdk.send_to_user("alice", {"for": "alice"})
    sdk.send_to_user("bob", {"for": "bob"})

    for client in (first, second):
        message = client.next()
        assert message["from"] == "server"
        assert message["dataType"] == "json"
        assert message["data"] == {"for": "alice"}
    assert first.connected["userId"] == "alice"
    assert bob.next()["data"] == {"for": "bob"}


def test_sequence_ids_only_in_the_reliable_protocol(pubsub, open_client):
    sdk = pubsub.sdk()
    url = sdk.get_client_access_token(user_id="u")["url"]
    reliable, plain = open_client(url, RELIABLE), open_client(url, JSON)
    assert "reconnectionToken" in reliable.connected
    assert "reconnectionToken" not in plain.connected

    sdk.send_to_user("u", {"n": 1})

    assert reliable.next()["sequenceId"] == 1
    assert "sequenceId" not in plain.next()


def test_group_from_the_token_receives_group_sends(pubsub, open_client):
    sdk = pubsub.sdk()
    member = open_client(sdk.get_client_access_token(user_id="m", groups=["news"])["url"])
    outsider = open_client(sdk.get_client_access_token(user_id="o")["url"])

    sdk.send_to_group("news", {"headline": 1})
    sdk.send_to_all({"marker": True})

    message = member.next()
    assert message["from"] == "group"
    assert message["group"] == "news"
    assert message["data"] == {"headline": 1}
    assert "fromUserId" not in message
    assert member.next()["data"] == {"marker": True}
    assert outsider.next()["data"] == {"marker": True}


def test_send_to_all_honours_excluded_connections(pubsub, open_client):
    sdk = pubsub.sdk()
    url = sdk.get_client_access_token(user_id="u", groups=["g"])["url"]
    kept, skipped = open_client(url), open_client(url)

    sdk.send_to_all({"n": 1}, excluded=[skipped.connection_id])
    sdk.send_to_group("g", {"n": 2}, excluded=[skipped.connection_id])
    sdk.send_to_connection(skipped.connection_id, {"n": 3})

    assert data_of(kept.next()) == {"n": 1}
    assert data_of(kept.next()) == {"n": 2}
    assert data_of(skipped.next()) == {"n": 3}


def test_send_to_connection_and_content_types(pubsub, open_client):
    sdk = pubsub.sdk()
    client = open_client(sdk.get_client_access_token(user_id="u")["url"])

    sdk.send_to_connection(client.connection_id, "plain text", content_type="text/plain")
    binary_type = "application/octet-stream"
    sdk.send_to_connection(client.connection_id, b"\x00\xffbin", content_type=binary_type)
    sdk.send_to_connection(client.connection_id, "a json string")

    text, binary, json_string = client.next(), client.next(), client.next()
    assert (text["dataType"], text["data"]) == ("text", "plain text")
    assert binary["dataType"] == "binary"
    assert base64.b64decode(binary["data"]) == b"\x00\xffbin"
    assert (json_string["dataType"], json_string["data"]) == ("json", "a json string")
    with pytest.raises(ResourceNotFoundError):
        sdk.send_to_connection("no-such-connection", {"n": 1})


def test_raw_websocket_clients_get_the_payload_itself(pubsub, open_client):
    sdk = pubsub.sdk()
    raw = open_client(sdk.get_client_access_token(user_id="r")["url"], protocol=None)

    sdk.send_to_user("r", {"n": 1})
    sdk.send_to_user("r", "hi", content_type="text/plain")
    sdk.send_to_user("r", b"\x01\x02", content_type="application/octet-stream")

    assert json.loads(raw.next_raw()) == {"n": 1}
    assert raw.next_raw() == "hi"
    assert raw.next_raw() == b"\x01\x02"


def test_group_membership_through_the_rest_api(pubsub, open_client):
    sdk = pubsub.sdk()
    alice = open_client(sdk.get_client_access_token(user_id="alice")["url"])
    bob = open_client(sdk.get_client_access_token(user_id="bob")["url"])
    assert not sdk.group_exists("team")

    sdk.add_connection_to_group("team", alice.connection_id)
    sdk.add_user_to_group("team", "bob")
    assert sdk.group_exists("team")
    assert {m.connection_id for m in sdk.list_connections(group="team")} == {
        alice.connection_id,
        bob.connection_id,
    }
    sdk.send_to_group("team", {"n": 1})
    assert data_of(alice.next()) == {"n": 1}
    assert data_of(bob.next()) == {"n": 1}

    sdk.remove_connection_from_group("team", alice.connection_id)
    sdk.send_to_group("team", {"n": 2})
    sdk.send_to_all({"marker": 1})
    assert data_of(alice.next()) == {"marker": 1}
    assert data_of(bob.next()) == {"n": 2}
    assert data_of(bob.next()) == {"marker": 1}

    sdk.remove_user_from_group("team", "bob")
    assert not sdk.group_exists("team")
    sdk.add_user_to_group("a", "bob")
    sdk.add_user_to_group("b", "bob")
    sdk.remove_user_from_all_groups("bob")
    sdk.add_connection_to_group("c", alice.connection_id)
    sdk.remove_connection_from_all_groups(alice.connection_id)
    assert not any(sdk.group_exists(g) for g in ("a", "b", "c"))
    with pytest.raises(ResourceNotFoundError):
        sdk.add_connection_to_group("team", "no-such-connection")


def test_existence_checks_and_closing(pubsub, open_client):
    sdk = pubsub.sdk()
    one = open_client(sdk.get_client_access_token(user_id="u1", groups=["g"])["url"])
    two = open_client(sdk.get_client_access_token(user_id="u2")["url"])
    three = open_client(sdk.get_client_access_token(user_id="u3")["url"])
    assert sdk.connection_exists(one.connection_id)
    assert sdk.user_exists("u1")
    assert not sdk.user_exists("nobody")
    assert not sdk.connection_exists("nothing")

    sdk.close_connection(one.connection_id, reason="go away")
    assert one.next() == {"type": "system", "event": "disconnected", "message": "go away"}
    assert not sdk.connection_exists(one.connection_id)
    assert not sdk.user_exists("u1")
    assert not sdk.group_exists("g")

    sdk.close_user_connections("u2")
    assert two.next()["event"] == "disconnected"
    sdk.close_all_connections(excluded=[three.connection_id])
    assert sdk.connection_exists(three.connection_id)
    sdk.close_all_connections()
    assert three.next()["message"] == "Closed by REST API."
    assert pubsub.call(pubsub.service.registry.count) == 0


def test_close_group_connections(pubsub, open_client):
    sdk = pubsub.sdk()
    inside = open_client(sdk.get_client_access_token(user_id="i", groups=["room"])["url"])
    outside = open_client(sdk.get_client_access_token(user_id="o")["url"])
    sdk.close_group_connections("room")
    assert inside.next()["event"] == "disconnected"
    assert sdk.connection_exists(outside.connection_id)


def test_generate_token_endpoint_mints_a_working_client_token(pubsub, open_client):
    sdk = pubsub.sdk()
    request = HttpRequest(
        "POST",
        f"/api/hubs/{HUB}/:generateToken",
        params={
            "api-version": "2024-12-01",
            "userId": "minted",
            "group": ["g1", "g2"],
            "role": ["webpubsub.sendToGroup"],
            "minutesToExpire": 5,
        },
    )
    response = sdk.send_request(request)
    assert response.status_code == 200
    token = response.json()["token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == "minted"
    assert claims["webpubsub.group"] == ["g1", "g2"]
    assert claims["role"] == ["webpubsub.sendToGroup"]
    assert claims["exp"] - claims["iat"] == 300

    ws_base = pubsub.service.base_url.replace("http://", "ws://")
    client = open_client(f"{ws_base}/client/hubs/{HUB}?access_token={token}")
    assert client.connected["userId"] == "minted"
    sdk.send_to_group("g2", {"n": 1})
    assert data_of(client.next()) == {"n": 1}


def test_runtime_permissions(pubsub, open_client):
    sdk = pubsub.sdk()
    client = open_client(sdk.get_client_access_token(user_id="u")["url"])
    join = {"type": "joinGroup", "group": "ops", "ackId": 1}
    assert client.request(join)["success"] is False

    sdk.grant_permission("joinLeaveGroup", client.connection_id, target_name="ops")
    assert sdk.has_permission("joinLeaveGroup", client.connection_id, target_name="ops")
    assert not sdk.has_permission("sendToGroup", client.connection_id, target_name="ops")
    assert client.request(join)["success"] is True

    sdk.revoke_permission("joinLeaveGroup", client.connection_id, target_name="ops")
    leave = {"type": "leaveGroup", "group": "ops", "ackId": 2}
    assert client.request(leave)["error"]["name"] == "Forbidden"


def test_rest_calls_need_a_token_signed_with_the_access_key(pubsub):
    wrong_key = f"Endpoint={pubsub.service.base_url};AccessKey={OTHER_KEY};Version=1.0;"
    with pytest.raises(ClientAuthenticationError):
        pubsub.sdk(connection_string=wrong_key).send_to_all({"n": 1})

    url = f"{pubsub.service.base_url}/api/hubs/{HUB}/:send?api-version=2024-12-01"
    key = pubsub.service.access_key

    def post(token: str | None) -> int:
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return requests.post(url, data="{}", headers=headers, timeout=10).status_code

    now = int(time.time())
    assert post(None) == 401
    assert post("not-a-jwt") == 401
    assert post(jwt.encode({"aud": url, "exp": now - 3600}, key, algorithm="HS256")) == 401
    other_url = url.replace("/:send", "/users/x/:send")
    assert post(jwt.encode({"aud": other_url, "exp": now + 60}, key, algorithm="HS256")) == 401
    assert post(jwt.encode({"aud": url}, key, algorithm="HS256")) == 401
    assert post(jwt.encode({"aud": url, "exp": now + 60}, key, algorithm="HS256")) == 202


def test_filter_is_rejected_clearly(pubsub):
    with pytest.raises(HttpResponseError) as raised:
        pubsub.sdk().send_to_all({"n": 1}, filter="userId eq 'a'")
    assert raised.value.status_code == 400
    assert "OData" in raised.value.message


def test_health_is_open_and_unknown_routes_are_404(pubsub):
    base = pubsub.service.base_url
    assert requests.get(f"{base}/api/health", timeout=10).status_code == 200
    assert requests.head(f"{base}/api/health", timeout=10).status_code == 200
    assert requests.get(f"{base}/api/nothing", timeout=10).status_code == 404
    assert requests.get(f"{base}/", timeout=10).status_code == 404
