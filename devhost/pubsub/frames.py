"""The JSON subprotocols' frames (`json.webpubsub.azure.v1`, `json.reliable.webpubsub.azure.v1`)."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Literal

JSON_PROTOCOL = "json.webpubsub.azure.v1"
RELIABLE_PROTOCOL = "json.reliable.webpubsub.azure.v1"
SUBPROTOCOLS = (RELIABLE_PROTOCOL, JSON_PROTOCOL)

DataType = Literal["json", "text", "binary"]


class FrameError(ValueError):
    """A client frame that is not valid JSON protocol (the service closes the connection)."""


@dataclass(frozen=True)
class Payload:
    """Message content and its type. `body` is UTF-8 JSON or text, or the raw bytes."""

    data_type: DataType
    body: bytes

    def json_value(self) -> object:
        """The `data` field of a JSON protocol message."""
        if self.data_type == "json":
            return json.loads(self.body)
        if self.data_type == "text":
            return self.body.decode("utf-8")
        return base64.b64encode(self.body).decode("ascii")

    def raw_frame(self) -> str | bytes:
        """What a client without subprotocol receives: text for json/text, bytes for binary."""
        return self.body if self.data_type == "binary" else self.body.decode("utf-8")


def _dump(message: dict[str, object]) -> str:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


def _with_sequence(message: dict[str, object], sequence_id: int | None) -> str:
    if sequence_id is not None:
        message["sequenceId"] = sequence_id
    return _dump(message)


def server_message(payload: Payload, sequence_id: int | None) -> str:
    """`{"type":"message","from":"server",...}`."""
    message: dict[str, object] = {"type": "message", "from": "server"}
    message["dataType"] = payload.data_type
    message["data"] = payload.json_value()
    return _with_sequence(message, sequence_id)


def group_message(
    group: str, from_user_id: str | None, payload: Payload, sequence_id: int | None
) -> str:
    """`{"type":"message","from":"group","group":...,"fromUserId":...}`."""
    message: dict[str, object] = {"type": "message", "from": "group", "group": group}
    if from_user_id is not None:
        message["fromUserId"] = from_user_id
    message["dataType"] = payload.data_type
    message["data"] = payload.json_value()
    return _with_sequence(message, sequence_id)


def connected(user_id: str | None, connection_id: str, reconnection_token: str | None) -> str:
    """The first frame of a new connection."""
    message: dict[str, object] = {"type": "system", "event": "connected", "userId": user_id or ""}
    message["connectionId"] = connection_id
    if reconnection_token is not None:
        message["reconnectionToken"] = reconnection_token
    return _dump(message)


def disconnected(reason: str) -> str:
    """Sent before the service closes a connection."""
    return _dump({"type": "system", "event": "disconnected", "message": reason})


def ack(ack_id: int, error: tuple[str, str] | None = None) -> str:
    """An ack; error = (name, message), name Forbidden|InternalServerError|Duplicate."""
    message: dict[str, object] = {"type": "ack", "ackId": ack_id, "success": error is None}
    if error is not None:
        message["error"] = {"name": error[0], "message": error[1]}
    return _dump(message)


def pong() -> str:
    """The answer to a client `ping`."""
    return _dump({"type": "pong"})


@dataclass(frozen=True)
class Request:
    """One parsed client frame. Fields a type does not use are None."""

    type: str
    ack_id: int | None = None
    group: str | None = None
    event: str | None = None
    payload: Payload | None = None
    no_echo: bool = False
    sequence_id: int | None = None


def _string(frame: dict, name: str) -> str:
    value = frame.get(name)
    if not isinstance(value, str) or not value:
        raise FrameError(f"missing or invalid {name!r}")
    return value


def _uint(frame: dict, name: str, required: bool) -> int | None:
    value = frame.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value >= 2**64:
        raise FrameError(f"missing or invalid {name!r}")
    return value


def _payload(frame: dict) -> Payload:
    if "data" not in frame:
        raise FrameError("missing 'data'")
    data, data_type = frame["data"], frame.get("dataType", "json")
    if data_type == "json":
        return Payload("json", _dump_value(data))
    if data_type == "text" and isinstance(data, str):
        return Payload("text", data.encode("utf-8"))
    if data_type == "binary" and isinstance(data, str):
        try:
            return Payload("binary", base64.b64decode(data, validate=True))
        except binascii.Error as error:
            raise FrameError("binary data is not valid base64") from error
    raise FrameError(f"invalid data for dataType {data_type!r}")


def _dump_value(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def parse_request(text: str) -> Request:
    """Parse one client frame; raise FrameError when it is not a valid protocol message."""
    try:
        frame = json.loads(text)
    except json.JSONDecodeError as error:
        raise FrameError("frame is not JSON") from error
    if not isinstance(frame, dict):
        raise FrameError("frame is not a JSON object")
    kind = frame.get("type")
    if kind in ("joinGroup", "leaveGroup"):
        return Request(kind, _uint(frame, "ackId", False), group=_string(frame, "group"))
    if kind == "sendToGroup":
        no_echo = frame.get("noEcho", False)
        if not isinstance(no_echo, bool):
            raise FrameError("invalid 'noEcho'")
        return Request(
            kind,
            _uint(frame, "ackId", False),
            group=_string(frame, "group"),
            payload=_payload(frame),
            no_echo=no_echo,
        )
    if kind == "event":
        return Request(
            kind,
            _uint(frame, "ackId", False),
            event=_string(frame, "event"),
            payload=_payload(frame),
        )
    if kind == "sequenceAck":
        return Request(kind, sequence_id=_uint(frame, "sequenceId", True))
    if kind == "ping":
        return Request(kind)
    raise FrameError(f"unsupported message type {kind!r}")
