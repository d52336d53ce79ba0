"""The Authenticator over the test Azurite: warm requests cost no storage request, a revoke reaches a second
instance within the cache bound, last uses are written in batches, and RS256/ES256 tokens verify against a JWKS
server the test starts, following its key rotation."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from shared.errors import ForbiddenError, UnauthorizedError
from shared.identity.authenticator import Authenticator
from shared.models import ORG_ADMIN, ORG_USER
from shared.storage.account import StorageAccount
from shared.storage.api_keys import ApiKey, ApiKeyStore, new_secret, secret_hash
from shared.storage.clients import RequestCounter
from shared.storage.organizations import Organization, OrganizationStore

HS_SECRET = "identity-test-secret-of-32-bytes-or-more"


class Instance:
    """One host's authenticator, its storage requests counted."""

    def __init__(self, connection_string: str) -> None:
        account = StorageAccount.from_connection_string(connection_string)
        self.counter = RequestCounter()
        self.auth = Authenticator(ApiKeyStore.open(account, counter=self.counter),
                                  OrganizationStore.open(account, counter=self.counter))


@pytest.fixture
async def instances(storage_connection_string: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[list[Instance]]:
    monkeypatch.setenv("CONDUIT_AUTH_CACHE_SECONDS", "1")
    monkeypatch.setenv("CONDUIT_JWT_SECRET", HS_SECRET)
    monkeypatch.delenv("CONDUIT_JWT_ISSUER", raising=False)
    monkeypatch.setenv("CONDUIT_JWT_AUDIENCE", "conduit")
    made = [Instance(storage_connection_string) for _ in range(2)]
    await made[0].auth.ensure_tables()
    yield made
    for instance in made:
        await instance.auth.close()


async def make_org(instance: Instance, **fields: Any) -> str:
    org_id = f"org-{uuid.uuid4().hex[:8]}"
    await instance.auth.organizations.create(Organization(org_id, org_id, created_at=datetime.now(UTC), **fields))
    return org_id


async def make_key(instance: Instance, org_id: str | None) -> tuple[str, str]:
    key_id, secret = new_secret()
    await instance.auth.keys.create(ApiKey(key_id, "svc", org_id, None, None, datetime.now(UTC), "admin",
                                           hash=secret_hash(secret)))
    return key_id, secret


def hs_token(**claims: Any) -> str:
    body = {"sub": "alice", "aud": "conduit", "exp": int(time.time()) + 600} | claims
    return jwt.encode(body, HS_SECRET, algorithm="HS256")


async def test_a_warm_key_and_a_warm_token_cost_no_storage_request(instances: list[Instance]) -> None:
    # Given a key and a token of an organization, each used once (cold: the rows are read)
    one = instances[0]
    org = await make_org(one)
    _, secret = await make_key(one, org)
    bearer = hs_token(org_id=org)
    for credential in (secret, bearer):
        await one.auth.authenticate({"x-api-key": credential})
    one.counter.reset()
    # When each is used 50 more times within the cache period
    for _ in range(50):
        key_caller = await one.auth.authenticate({"x-api-key": secret})
        user_caller = await one.auth.authenticate({"authorization": f"Bearer {bearer}"})
    # Then no storage request was sent, and the callers are what the rows say
    assert one.counter.count == 0
    assert key_caller.kind == "api_key" and key_caller.scope == org and key_caller.roles == {ORG_USER}
    assert user_caller.kind == "user" and user_caller.user_id == "alice" and user_caller.organization_id == org


async def test_a_revoke_reaches_a_second_instance_within_the_cache_bound(instances: list[Instance]) -> None:
    # Given a key both instances have used (and cached)
    one, two = instances
    org = await make_org(one)
    key_id, secret = await make_key(one, org)
    for instance in instances:
        await instance.auth.authenticate({"x-api-key": secret})
    # When the first instance revokes it
    await one.auth.keys.revoke(key_id)
    one.auth.forget_key(key_id)
    revoked_at = time.monotonic()
    # Then the first refuses it at once, and the second within the bound (1 s here; generous margin to observe)
    with pytest.raises(UnauthorizedError, match="revoked"):
        await one.auth.authenticate({"x-api-key": secret})
    refused_after = None
    while time.monotonic() - revoked_at < 10:
        try:
            await two.auth.authenticate({"x-api-key": secret})
        except UnauthorizedError:
            refused_after = time.monotonic() - revoked_at
            break
        await asyncio.sleep(0.1)
    assert refused_after is not None and refused_after < 5


async def test_a_deactivated_organization_is_refused_on_a_second_instance(instances: list[Instance]) -> None:
    one, two = instances
    org = await make_org(one)
    token = hs_token(org_id=org, roles=[ORG_ADMIN])
    assert (await two.auth.authenticate({"authorization": f"Bearer {token}"})).roles >= {ORG_ADMIN}
    stored = await one.auth.organizations.get(org)
    assert stored is not None
    await one.auth.organizations.replace(Organization(org, org, is_active=False, etag=stored.etag))
    deadline = time.monotonic() + 10
    while True:
        try:
            await two.auth.authenticate({"authorization": f"Bearer {token}"})
        except ForbiddenError as refused:
            assert "not active" in refused.message
            break
        assert time.monotonic() < deadline, "the deactivation never reached the second instance"
        await asyncio.sleep(0.1)


async def test_last_use_is_written_once_per_flush_not_per_request(instances: list[Instance],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a key used 20 times, with last uses flushed only when asked (a long flush period)
    monkeypatch.setenv("CONDUIT_KEY_LAST_USE_FLUSH_SECONDS", "3600")
    one = instances[0]
    key_id, secret = await make_key(one, None)
    for _ in range(20):
        await one.auth.authenticate({"x-api-key": secret})
    one.counter.reset()
    # When the buffer is flushed, Then one write covers them all and the row says when the key was used
    assert await one.auth.flush_last_use() == 1
    assert one.counter.count == 1
    stored = await one.auth.keys.get(key_id)
    assert stored is not None and stored.last_used_at is not None
    assert abs((datetime.now(UTC) - stored.last_used_at).total_seconds()) < 60


# JWKS ----------------------------------------------------------------------------------------------------------------


class JwksServer:
    """A local JWKS endpoint whose keys the test rotates."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.requests = 0
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/jwks", self._jwks)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/jwks"

    async def _jwks(self, request: web.Request) -> web.Response:
        self.requests += 1
        return web.json_response({"keys": self.keys})

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def rsa_key(kid: str) -> tuple[Any, dict[str, Any]]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = RSAAlgorithm.to_jwk(private.public_key(), as_dict=True) | {"kid": kid, "use": "sig", "alg": "RS256"}
    return private, public


def ec_key(kid: str) -> tuple[Any, dict[str, Any]]:
    private = ec.generate_private_key(ec.SECP256R1())
    public = ECAlgorithm.to_jwk(private.public_key(), as_dict=True) | {"kid": kid, "use": "sig", "alg": "ES256"}
    return private, public


def signed(private: Any, kid: str, algorithm: str = "RS256", **claims: Any) -> str:
    body = {"sub": "ida", "org_id": claims.pop("org_id"), "aud": "conduit", "iss": "https://idp.test",
            "exp": int(time.time()) + 600} | claims
    return jwt.encode(body, private, algorithm=algorithm, headers={"kid": kid})


@pytest.fixture
async def jwks(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[JwksServer]:
    server = JwksServer()
    await server.start()
    monkeypatch.setenv("CONDUIT_JWT_JWKS_URL", server.url)
    monkeypatch.setenv("CONDUIT_JWT_ISSUER", "https://idp.test")
    monkeypatch.setenv("CONDUIT_JWT_JWKS_MIN_REFETCH_SECONDS", "0")
    yield server
    await server.stop()


async def test_jwks_tokens_verify_and_a_rotated_key_is_fetched(instances: list[Instance], jwks: JwksServer) -> None:
    # Given a provider publishing one RSA and one EC key
    one = instances[0]
    org = await make_org(one)
    first, first_public = rsa_key("k1")
    ec_private, ec_public = ec_key("e1")
    jwks.keys = [first_public, ec_public]
    # When tokens signed with them arrive, Then they verify, with one fetch of the set
    caller = await one.auth.authenticate({"authorization": f"Bearer {signed(first, 'k1', org_id=org)}"})
    assert caller.user_id == "ida" and caller.scope == org
    await one.auth.authenticate({"authorization": f"Bearer {signed(ec_private, 'e1', 'ES256', org_id=org)}"})
    assert jwks.requests == 1
    # When the provider rotates to a new key, Then a token with the new kid makes one refetch and verifies
    second, second_public = rsa_key("k2")
    jwks.keys = [second_public]
    await one.auth.authenticate({"authorization": f"Bearer {signed(second, 'k2', org_id=org)}"})
    assert jwks.requests == 2
    # And the withdrawn key is refused
    with pytest.raises(UnauthorizedError, match="does not publish"):
        await one.auth.authenticate({"authorization": f"Bearer {signed(first, 'k1', org_id=org)}"})
    # And a token signed by someone else with a published kid is refused
    forger, _ = rsa_key("k2")
    with pytest.raises(UnauthorizedError, match="signature"):
        await one.auth.authenticate({"authorization": f"Bearer {signed(forger, 'k2', org_id=org)}"})


async def test_unknown_kids_refetch_at_most_once_per_period(instances: list[Instance], jwks: JwksServer,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a warm key set and a refetch period of a minute
    monkeypatch.setenv("CONDUIT_JWT_JWKS_MIN_REFETCH_SECONDS", "60")
    one = instances[0]
    org = await make_org(one)
    private, public = rsa_key("k1")
    jwks.keys = [public]
    await one.auth.authenticate({"authorization": f"Bearer {signed(private, 'k1', org_id=org)}"})
    # When 20 tokens with made-up kids arrive, Then each is refused and the provider is not asked again
    for index in range(20):
        with pytest.raises(UnauthorizedError):
            await one.auth.authenticate({"authorization": f"Bearer {signed(private, f'x{index}', org_id=org)}"})
    assert jwks.requests == 1


async def test_an_hs256_token_is_not_accepted_with_the_public_key_algorithms(instances: list[Instance],
                                                                             jwks: JwksServer,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # Given JWKS only (no shared secret): an HS256 token (e.g. signed with a public key's text) is refused
    monkeypatch.delenv("CONDUIT_JWT_SECRET")
    token = jwt.encode({"sub": "x", "org_id": "o", "aud": "conduit", "exp": int(time.time()) + 60}, "k" * 32,
                       algorithm="HS256")
    with pytest.raises(UnauthorizedError, match="algorithm 'HS256' is not accepted"):
        await instances[0].auth.authenticate({"authorization": f"Bearer {token}"})
