"""Our client authenticates to each agent as its card asks, against the real sample agents on
loopback: the app token, an Entra token from azure-identity's own managed-identity code (its
token endpoint a loopback double), an API key from Key Vault (the SDK's pipeline over a
transport double); a refused credential is not retried and is recorded; a retried step books
once."""

import base64
import time
from dataclasses import replace

import httpx
import jwt
import pytest
from aiohttp import web
from azure.identity import ManagedIdentityCredential
from cryptography.hazmat.primitives.asymmetric import rsa

from activities.specialists import call_specialist, step_message_id
from agents.security import InboundAuth
from agents.server import start_agents
from tests.agents.conftest import QUIET, SIGNING_KEY
from tests.conftest import remember_secret
from tests.integration.test_keyvault import FakeCredential, FakeKeyVault
from tests.loopback import LoopbackServer
from voicea2a import registry
from voicea2a.a2a import A2AError, A2AErrorKind, fetch_card, send_message
from voicea2a.agentauth import AgentCredentials, api_key_secret, set_agent_credentials
from voicea2a.secrets import KeyVaultSecretSource, set_key_vault_source

LIMITS = {"timeout": 10.0, "max_bytes": 1_000_000}
AUDIENCE = "api://contoso-agents"
ISSUER = "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/"
IDENTITY_HEADER = remember_secret("identity-header-secret-4c2a")
CALL = call_specialist.build().get_user_function()


@pytest.fixture
async def http():
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


@pytest.fixture
def app(app_env):
    """The app's settings: the agents' signing key, and a fresh credential cache."""
    app_env(AUTH_SIGNING_KEY=SIGNING_KEY, A2A_AGENT_AUDIENCES=AUDIENCE)
    credentials = AgentCredentials()
    set_agent_credentials(credentials)
    yield credentials
    set_agent_credentials(AgentCredentials())


@pytest.fixture
async def sample():
    group = await start_agents(
        ["authentication", "technical-dispatch"], base_port=0, settings=QUIET
    )
    yield group
    await group.stop()


def call_of(card, data, **extra):
    return {
        "agent": "contoso-technical-dispatch-agent",
        "card": dict(card.raw),
        "data": data,
        "attempt": 1,
        "timeoutSeconds": 10,
        "maxBytes": 1_000_000,
        "instanceId": "dlg-0123456789abcdef",
        "user": "jane@example.com",
        **extra,
    }


# ----- the app token -----


async def test_the_app_token_is_what_the_sample_agents_accept(app, sample, http):
    card = await fetch_card(http, sample.urls["authentication"], **LIMITS)
    identity = {"firstName": "Jane", "lastName": "Doe", "postalCode": "M5H 1A1"}
    result = await send_message(
        http, card, data={**identity, "dateOfBirth": "1985-03-14"}, credentials=app, **LIMITS
    )
    assert result.data["status"] == "AUTHENTICATED"
    with pytest.raises(A2AError) as refused:
        await send_message(http, card, data=identity, **LIMITS)
    assert refused.value.kind is A2AErrorKind.AUTH_REFUSED


async def test_a_token_for_one_agent_is_refused_by_another(app, sample, http):
    auth = await fetch_card(http, sample.urls["authentication"], **LIMITS)
    dispatch = await fetch_card(http, sample.urls["technical-dispatch"], **LIMITS)
    # An agent that kept our token and replays it to another one.
    token = (await app.headers(auth))["Authorization"]
    remember_secret(token.removeprefix("Bearer "))
    response = await http.post(
        dispatch.rpc_url,
        json={"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {}},
        headers={"A2A-Version": "1.0", "Authorization": token},
    )
    assert response.status_code == 401


# ----- 401/403: not retried, recorded in the agent's health -----


async def test_a_refused_credential_is_a_failed_outcome_not_retried_and_recorded(
    app_env, sample, http, monkeypatch
):
    app_env(AUTH_SIGNING_KEY=remember_secret("a-different-app-key-of-32-characters-000"))
    set_agent_credentials(AgentCredentials())
    recorded = []

    async def spy(name, status):
        recorded.append((name, status))

    monkeypatch.setattr(registry, "record_credential_refused", spy)
    card = await fetch_card(http, sample.urls["technical-dispatch"], **LIMITS)
    result = await CALL(call_of(card, {"customerId": "CUST-0001"}))
    assert (result["state"], result["kind"], result["retryable"]) == (
        "failed",
        "auth_refused",
        False,
    )
    assert "refused our credential (HTTP 401)" in result["error"]
    assert recorded == [("contoso-technical-dispatch-agent", 401)]


async def test_a_scheme_we_cannot_satisfy_is_a_clear_failed_outcome(app, sample, http):
    card = await fetch_card(http, sample.urls["technical-dispatch"], **LIMITS)
    raw = {
        **card.raw,
        "securitySchemes": {
            "mtls": {"mtlsSecurityScheme": {}},
            "basic": {"httpAuthSecurityScheme": {"scheme": "Basic"}},
        },
        "securityRequirements": [{"schemes": {"mtls": {}}}, {"schemes": {"basic": {}}}],
    }
    seen = len(sample.agents["technical-dispatch"].seen)
    result = await CALL(call_of(replace(card, raw=raw), {"customerId": "CUST-0001"}))
    assert (result["state"], result["kind"], result["retryable"]) == (
        "failed",
        "auth_unavailable",
        False,
    )
    assert "scheme 'mtls' is not one we support (mutual TLS)" in result["error"]
    assert "scheme 'basic' is not one we support (http Basic)" in result["error"]
    assert len(sample.agents["technical-dispatch"].seen) == seen  # nothing was sent


# ----- one booking per delegation step -----


async def test_a_retried_or_rerun_step_books_once(app, sample, http):
    card = await fetch_card(http, sample.urls["technical-dispatch"], **LIMITS)
    calendar = sample.agents["technical-dispatch"].agent.calendar
    call = call_of(card, {"customerId": "CUST-0001"})
    first = await CALL(call)
    retried = await CALL({**call, "attempt": 2})
    assert first["data"]["status"] == "BOOKED"
    assert retried["data"]["bookingId"] == first["data"]["bookingId"]
    assert len(calendar.booked) == 1
    # Another delegation is another booking.
    other = await CALL({**call, "instanceId": "dlg-fedcba9876543210"})
    assert other["data"]["bookingId"] != first["data"]["bookingId"]
    assert len(calendar.booked) == 2


def test_the_message_id_is_the_steps_not_the_attempts():
    call = {"instanceId": "dlg-1", "agent": "a", "data": {"x": 1}, "taskId": None, "attempt": 1}
    assert step_message_id(call) == step_message_id({**call, "attempt": 3})
    assert step_message_id(call) != step_message_id({**call, "taskId": "t-1"})
    assert step_message_id(call) != step_message_id({**call, "data": {"x": 2}})
    assert step_message_id({**call, "instanceId": None}) is None


# ----- Entra: azure-identity's managed identity code, its endpoint a loopback double -----


class Entra:
    """The App Service managed-identity endpoint and the tenant's JWKS, on loopback."""

    def __init__(self):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.token_requests = []
        self.tokens = []

    async def start(self):
        app = web.Application()
        app.router.add_get("/msi/token", self._token)
        app.router.add_get("/keys", self._keys)
        self.server = LoopbackServer(app)
        self.url = await self.server.start()

    async def _token(self, request):
        assert request.headers["X-IDENTITY-HEADER"] == IDENTITY_HEADER
        resource = request.query["resource"]
        self.token_requests.append(resource)
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": resource, "sub": "mi-object-id", "iat": now}
        claims["exp"] = now + 3600
        token = jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": "k1"})
        self.tokens.append(remember_secret(token))
        body = {"access_token": token, "expires_on": str(now + 3600), "resource": resource}
        return web.json_response({**body, "token_type": "Bearer"})

    async def _keys(self, _request):
        numbers = self.key.public_key().public_numbers()

        def b64(value):
            raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
            return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

        jwk = {"kty": "RSA", "kid": "k1", "use": "sig", "n": b64(numbers.n), "e": b64(numbers.e)}
        return web.json_response({"keys": [jwk]})


@pytest.fixture
async def entra(monkeypatch):
    double = Entra()
    await double.start()
    monkeypatch.setenv("IDENTITY_ENDPOINT", f"{double.url}/msi/token")
    monkeypatch.setenv("IDENTITY_HEADER", IDENTITY_HEADER)
    yield double
    await double.server.stop()


async def test_an_entra_token_from_the_managed_identity_cached_per_audience(app, entra, http):
    inbound = InboundAuth(
        entra_issuer=ISSUER, entra_audience=AUDIENCE, entra_jwks_url=f"{entra.url}/keys"
    )
    group = await start_agents(
        ["authentication"], base_port=0, settings=replace(QUIET, inbound=inbound)
    )
    try:
        card = await fetch_card(http, group.urls["authentication"], **LIMITS)
        assert card.raw["securityRequirements"] == [
            {"schemes": {"entra": {"list": [f"{AUDIENCE}/.default"]}}}
        ]
        credentials = AgentCredentials(credential=ManagedIdentityCredential())
        for _ in range(2):
            result = await send_message(
                http, card, text="Jane Doe", credentials=credentials, **LIMITS
            )
            assert result.data["status"] == "MISSING_FIELD"
        assert entra.token_requests == [AUDIENCE]  # one token for both calls
    finally:
        await group.stop()


async def test_an_audience_not_allow_listed_gets_no_token(app, entra, http, sample):
    card = await fetch_card(http, sample.urls["authentication"], **LIMITS)
    raw = {
        **card.raw,
        "securitySchemes": {"entra": {"openIdConnectSecurityScheme": {"openIdConnectUrl": "x"}}},
        "securityRequirements": [
            {"schemes": {"entra": {"list": ["https://vault.azure.net/.default"]}}}
        ],
    }
    credentials = AgentCredentials(credential=ManagedIdentityCredential())
    with pytest.raises(A2AError) as refused:
        await send_message(
            http, replace(card, raw=raw), text="hi", credentials=credentials, **LIMITS
        )
    assert refused.value.kind is A2AErrorKind.AUTH_UNAVAILABLE
    assert "https://vault.azure.net' is not in A2A_AGENT_AUDIENCES" in refused.value.message
    assert entra.token_requests == []


# ----- an API key from Key Vault (the SDK's pipeline over a transport double) -----


async def test_an_api_key_from_key_vault(app_env, http):
    key = remember_secret("outage-agent-api-key-9f8e7d6c")
    url = "https://kv-agentkeys.vault.azure.net"
    vault = FakeKeyVault(url)
    vault.set(api_key_secret("Contoso Outage Check Agent"), key)
    set_key_vault_source(
        KeyVaultSecretSource(
            url, ttl_seconds=300, grace_seconds=600, credential=FakeCredential(), transport=vault
        )
    )
    app_env(KEY_VAULT_URL=url)
    group = await start_agents(
        ["outage-check"], base_port=0, settings=replace(QUIET, inbound=InboundAuth(api_key=key))
    )
    try:
        card = await fetch_card(http, group.urls["outage-check"], **LIMITS)
        credentials = AgentCredentials()
        result = await send_message(
            http, card, data={"customerId": "CUST-0004"}, credentials=credentials, **LIMITS
        )
        assert result.data["status"] == "REGIONAL_OUTAGE"
        assert [path for _m, path, ok in vault.requests if ok] == [
            "/secrets/a2a-key-contoso-outage-check-agent/"
        ]
        del vault.secrets[api_key_secret("Contoso Outage Check Agent")]
        other = replace(card, name="Contoso Other Agent")
        with pytest.raises(A2AError) as missing:
            await send_message(http, other, text="hi", credentials=credentials, **LIMITS)
        assert missing.value.kind is A2AErrorKind.AUTH_UNAVAILABLE
        assert "a2a-key-contoso-other-agent' is not configured" in missing.value.message
    finally:
        await group.stop()


async def test_a_card_with_no_requirement_gets_no_credential(app, sample, http):
    card = await fetch_card(http, sample.urls["authentication"], **LIMITS)
    open_card = {k: v for k, v in card.raw.items() if not k.startswith("security")}
    assert await app.headers(replace(card, raw=open_card)) == {}
