"""The one Table storage client factory, built from the settings once per event loop."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, cast

from voicea2a.config import ConfigError, StorageSettings, get_settings, parse_connection_string
from voicea2a.loopcache import PerLoop
from voicea2a.proxies import proxy_options

if TYPE_CHECKING:
    from azure.data.tables.aio import TableClient, TableServiceClient


def fail_fast(timeout_seconds: float, retries: int = 0) -> dict[str, Any]:
    """Per-operation kwargs for a quick answer: `svc.list_tables(**fail_fast(2.0))`."""
    # azure-core reads these per request, so the shared client keeps its normal retry policy
    # for the work that can wait (activities), while request paths stay bounded.
    return {
        "retry_total": retries,
        "connection_timeout": timeout_seconds,
        "read_timeout": timeout_seconds,
    }


# A request is waiting: one quick retry at most, never the SDK's minutes of back-off.
REQUEST_PATH = fail_fast(3.0, retries=1)


def table_endpoint(connection_string: str) -> str:
    """The Table endpoint a connection string names, as the Tables SDK derives it."""
    parts = parse_connection_string(connection_string)
    if parts.get("usedevelopmentstorage", "").lower() == "true":
        return "http://127.0.0.1:10002"
    if "tableendpoint" in parts:
        return parts["tableendpoint"]
    protocol = parts.get("defaultendpointsprotocol", "https")
    suffix = parts.get("endpointsuffix", "core.windows.net")
    return f"{protocol}://{parts['accountname']}.table.{suffix}"


class _Service:
    """A TableServiceClient with the credential it owns (closed together), and its table
    clients (built once: each one configures its own pipeline over the shared transport)."""

    def __init__(self, storage: StorageSettings) -> None:
        from azure.data.tables.aio import TableServiceClient

        self.tables: dict[str, TableClient] = {}
        self.credential: Any = None
        if storage.connection_string is not None:
            self.client = TableServiceClient.from_connection_string(
                storage.connection_string,
                **proxy_options(table_endpoint(storage.connection_string)),
            )
        else:
            from voicea2a.identity import async_azure_credential

            endpoint = storage.table_service_uri
            if endpoint is None:  # config.py refuses settings without one of the two forms
                raise ConfigError("AzureWebJobsStorage__tableServiceUri or __accountName is unset")
            self.credential = async_azure_credential(storage.client_id)
            self.client = TableServiceClient(
                endpoint=endpoint, credential=self.credential, **proxy_options(endpoint)
            )

    async def close(self) -> None:
        await self.client.close()
        if self.credential is not None:
            await self.credential.close()


def _create() -> _Service:
    return _Service(get_settings().storage)


async def _close(service: _Service) -> None:
    await service.close()


_services: PerLoop[_Service] = PerLoop(_create, _close)


def table_service() -> TableServiceClient:
    """Return the running loop's TableServiceClient, built from the settings on first use."""
    return _services.get().client


def table_client(name: str) -> TableClient:
    """Return the running loop's TableClient for table `name` (it shares the service client's
    connection pool)."""
    service = _services.get()
    if name not in service.tables:
        service.tables[name] = service.client.get_table_client(name)
    return service.tables[name]


_created_tables: set[str] = set()
# The writes that re-create their table when it has disappeared.
_WRITES = frozenset({"create_entity", "upsert_entity", "update_entity", "submit_transaction"})
_QUERIES = frozenset({"query_entities", "list_entities"})


async def ensure_table(name: str) -> TableClient:
    """Return a TableClient for `name`, creating the table once per process if it is missing.

    Its writes re-create the table if it disappears later (a storage account restored or an
    emulator restarted empty), instead of failing until the app restarts.
    """
    if name not in _created_tables:
        from azure.core.exceptions import ResourceExistsError

        with contextlib.suppress(ResourceExistsError):
            await table_service().create_table(name, **REQUEST_PATH)
        _created_tables.add(name)
    # It forwards every other TableClient method (__getattr__): callers see a TableClient.
    return cast("TableClient", _SelfHealingTable(name, table_client(name)))


def _table_missing(error: Exception) -> bool:
    # error_code is a str enum (TableErrorCode) or a plain string: both compare equal. The
    # SDK leaves it unset on some operations (create_entity), so the header is read too.
    if getattr(error, "error_code", None) == "TableNotFound":
        return True
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None) or {}
    return headers.get("x-ms-error-code") == "TableNotFound"


class _SelfHealingTable:
    """A TableClient whose table may disappear: writes re-create it once, reads find no rows."""

    def __init__(self, name: str, client: TableClient) -> None:
        self._name = name
        self._client = client

    def __getattr__(self, attribute: str) -> Any:
        method = getattr(self._client, attribute)
        if attribute in _WRITES:
            return self._healing_write(method)
        if attribute in _QUERIES:
            return self._empty_when_missing(method)
        return method

    def _healing_write(self, method: Any) -> Any:
        async def write(*args: Any, **kwargs: Any) -> Any:
            from azure.core.exceptions import HttpResponseError

            try:
                return await method(*args, **kwargs)
            except HttpResponseError as exc:  # a transaction reports it as TableTransactionError
                if not _table_missing(exc):
                    raise
            _created_tables.discard(self._name)
            await ensure_table(self._name)
            return await method(*args, **kwargs)

        return write

    def _empty_when_missing(self, method: Any) -> Any:
        def query(*args: Any, **kwargs: Any) -> Any:
            async def rows() -> Any:
                from azure.core.exceptions import ResourceNotFoundError

                try:
                    async for row in method(*args, **kwargs):
                        yield row
                except ResourceNotFoundError as exc:
                    if not _table_missing(exc):
                        raise
                    _created_tables.discard(self._name)

            return rows()

        return query


async def close_all() -> None:
    """Close the running loop's client and forget all cached clients (tests, shutdown)."""
    _created_tables.clear()
    await _services.close_all()
