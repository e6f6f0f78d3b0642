"""Pure pieces of devhost.pubsub: connection strings, roles, tokens and client frames."""

from __future__ import annotations

import time

import jwt
import pytest

from devhost.pubsub import PubSubService, parse_connection_string
from devhost.pubsub.frames import FrameError, parse_request
from devhost.pubsub.permissions import JOIN_LEAVE, SEND_TO_GROUP, allows
from devhost.pubsub.tokens import TokenError, client_audience, verify_client_token
from tests.devhost.pubsub.support import KEY

EMULATOR = f"Endpoint=http://localhost:8080;AccessKey={KEY};Version=1.0;"


def test_the_emulator_connection_string():
    parsed = parse_connection_string(EMULATOR)
    assert (parsed.endpoint, parsed.access_key) == ("http://localhost:8080", KEY)
    assert parsed.render() == EMULATOR
    service = PubSubService.from_connection_string(EMULATOR, max_queue=5)
    assert service.endpoint == "http://localhost:8080"
    assert service.registry.max_queue == 5


def test_connection_string_port_key_and_errors():
    assert parse_connection_string(f"endpoint=http://h/;accesskey={KEY};port=81").endpoint == (
        "http://h:81"
    )
    with pytest.raises(ValueError, match="AccessKey"):
        parse_connection_string("Endpoint=http://h;")
    with pytest.raises(ValueError, match="Endpoint"):
        parse_connection_string(f"AccessKey={KEY}")
    with pytest.raises(ValueError, match="http:// or https://"):
        parse_connection_string(f"Endpoint=ws://h;AccessKey={KEY}")


@pytest.mark.parametrize(
    "value",
    [
        f"Endpoint=http://h;AccessKey={KEY};junk",  # a segment without `=`
        f"Endpoint=http://h;AccessKey={KEY};Port=",  # a key without a value
        f"Endpoint=http://h;AccessKey={KEY};accesskey=other",  # a repeated key, in any case
        "",
    ],
)
def test_connection_strings_azure_core_refuses(value):
    with pytest.raises(ValueError, match="malformed|Duplicate key"):
        parse_connection_string(value)


def test_group_roles():
    assert allows(["webpubsub.joinLeaveGroup"], JOIN_LEAVE, "any")
    assert allows(["webpubsub.sendToGroup.ops"], SEND_TO_GROUP, "ops")
    assert not allows(["webpubsub.sendToGroup.ops"], SEND_TO_GROUP, "ops2")
    assert not allows(["webpubsub.sendToGroup.ops"], JOIN_LEAVE, "ops")
    assert allows(["webpubsub.sendToGroups.a.**"], SEND_TO_GROUP, "a.b.c")
    assert allows(["webpubsub.sendToGroups.a.?"], SEND_TO_GROUP, "a.b")
    assert not allows(["webpubsub.sendToGroups.a.?"], SEND_TO_GROUP, "a.bc")
    assert not allows(["webpubsub.joinLeaveGroups.A.*"], JOIN_LEAVE, "a.b")  # case-sensitive
    assert not allows([], JOIN_LEAVE, "g")


def _token(**claims: object) -> str:
    now = int(time.time())
    return jwt.encode({"exp": now + 60, **claims}, KEY, algorithm="HS256")


def test_client_token_claims_and_lifetimes():
    audience = client_audience("HTTP://LocalHost:8080/", "Chat")
    assert audience == "http://localhost:8080/client/hubs/Chat"
    identity = verify_client_token(
        _token(aud=audience.upper(), sub="u", role="webpubsub.sendToGroup"), KEY, [audience]
    )
    assert (identity.user_id, identity.roles, identity.groups) == (
        "u",
        frozenset({"webpubsub.sendToGroup"}),
        (),
    )
    later = int(time.time()) + 3600
    with pytest.raises(TokenError):
        verify_client_token(_token(aud=audience, nbf=later), KEY, [audience])
    with pytest.raises(TokenError):
        verify_client_token(jwt.encode({"aud": audience}, KEY, algorithm="HS256"), KEY, [audience])
    with pytest.raises(TokenError):
        verify_client_token(_token(aud=audience, role=[1]), KEY, [audience])


@pytest.mark.parametrize(
    "frame",
    [
        "[]",
        '{"type":"joinGroup"}',
        '{"type":"joinGroup","group":"g","ackId":-1}',
        '{"type":"sendToGroup","group":"g"}',
        '{"type":"sendToGroup","group":"g","dataType":"binary","data":"***"}',
        '{"type":"sendToGroup","group":"g","dataType":"text","data":{}}',
        '{"type":"sequenceAck"}',
        '{"type":"nope"}',
    ],
)
def test_invalid_client_frames(frame):
    with pytest.raises(FrameError):
        parse_request(frame)


def test_client_frames():
    send = parse_request('{"type":"sendToGroup","group":"g","ackId":3,"noEcho":true,"data":[1]}')
    assert (send.group, send.ack_id, send.no_echo) == ("g", 3, True)
    assert send.payload is not None and send.payload.json_value() == [1]
    binary = parse_request('{"type":"event","event":"e","dataType":"binary","data":"AAE="}')
    assert binary.payload is not None and binary.payload.body == b"\x00\x01"
