"""`make token` mints a development token that Conduit's own verifier accepts, with the claims asked for."""

from __future__ import annotations

import pytest

from scripts import mint_token
from shared.identity.settings import AuthSettings
from shared.identity.tokens import TokenVerifier


async def test_a_minted_token_verifies_with_the_configured_secret(monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    # Given a configured secret, issuer and audience
    monkeypatch.setenv("CONDUIT_JWT_SECRET", "mint-test-secret-of-thirty-two-bytes!")
    monkeypatch.setenv("CONDUIT_JWT_ISSUER", "conduit-dev")
    monkeypatch.setenv("CONDUIT_JWT_AUDIENCE", "conduit")
    # When a token is minted for an org admin
    assert mint_token.main(["--user", "alice", "--org", "org-a", "--role", "OrgAdmin"]) == 0
    printed = capsys.readouterr()
    token = printed.out.strip()
    # Then Conduit's verifier accepts it and reads the user, organization and role; a curl line is printed
    identity = await TokenVerifier().verify(token, AuthSettings.from_env())
    assert (identity.user_id, identity.organization_id, identity.roles) == ("alice", "org-a", {"OrgAdmin"})
    assert f"Bearer {token}" in printed.err


def test_a_user_token_needs_an_organization() -> None:
    with pytest.raises(SystemExit):
        mint_token.main(["--user", "alice"])
