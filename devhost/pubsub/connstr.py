"""Connection strings (`Endpoint=...;AccessKey=...;Version=1.0;`), as the SDK reads them."""

from __future__ import annotations

from dataclasses import dataclass

from azure.core.utils import parse_connection_string as split_connection_string


@dataclass(frozen=True)
class ConnectionString:
    """The parts of a Web PubSub connection string that matter here."""

    endpoint: str
    access_key: str

    def render(self) -> str:
        """The string form, as the official emulator prints it."""
        return f"Endpoint={self.endpoint};AccessKey={self.access_key};Version=1.0;"


def parse_connection_string(value: str) -> ConnectionString:
    """Parse like `WebPubSubServiceClient.from_connection_string`: azure-core splits it (keys
    case-insensitive; a segment without a value or a repeated key is a ValueError)."""
    parts = split_connection_string(value)
    if "endpoint" not in parts:
        raise ValueError("connection string has no Endpoint")
    if "accesskey" not in parts:
        raise ValueError("connection string has no AccessKey")
    endpoint = parts["endpoint"].rstrip("/")
    if not endpoint.lower().startswith(("http://", "https://")):
        raise ValueError("connection string Endpoint must start with http:// or https://")
    # The SDK appends a Port= key to the endpoint; do the same so both agree on the audience.
    if "port" in parts:
        endpoint = f"{endpoint}:{parts['port']}"
    return ConnectionString(endpoint=endpoint, access_key=parts["accesskey"])
