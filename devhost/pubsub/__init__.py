"""A local Azure Web PubSub-compatible service: the REST data plane and the client WebSocket."""

from devhost.pubsub.connstr import ConnectionString, parse_connection_string
from devhost.pubsub.service import PubSubService

__all__ = ["ConnectionString", "PubSubService", "parse_connection_string"]
