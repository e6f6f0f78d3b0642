"""The app's Azure credentials: one rule for every Azure SDK client it builds."""

from __future__ import annotations

from typing import Any

from voicea2a.config import get_settings


def azure_credential(client_id: str | None) -> Any:
    """A sync credential for the managed identity `client_id` (None: system-assigned).

    In Azure (WEBSITE_INSTANCE_ID set) this is a ManagedIdentityCredential: deterministic, with no
    fallback to another identity. Elsewhere no managed identity exists, so DefaultAzureCredential
    lets a developer's `az login` (or AZURE_CLIENT_SECRET etc.) stand in for it.
    """
    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

    if get_settings().auth.running_in_azure:
        return ManagedIdentityCredential(client_id=client_id)
    return DefaultAzureCredential(managed_identity_client_id=client_id)


def async_azure_credential(client_id: str | None) -> Any:
    """The async twin of `azure_credential`, for the aio SDK clients."""
    from azure.identity.aio import DefaultAzureCredential, ManagedIdentityCredential

    if get_settings().auth.running_in_azure:
        return ManagedIdentityCredential(client_id=client_id)
    return DefaultAzureCredential(managed_identity_client_id=client_id)
