"""Bearer-key authentication: the key decides the account."""

from __future__ import annotations

import hmac

from server.settings import Settings

OPEN_MODE_ACCOUNT = "local"


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def account_for(settings: Settings, authorization: str | None) -> str | None:
    """The account a request's ``Authorization`` header grants, or None if refused."""
    token = bearer_token(authorization)
    if token is None:
        return None
    if settings.open_mode:
        return OPEN_MODE_ACCOUNT
    found = None
    # Compare against every key in constant time, so timing tells nothing about keys.
    for key, account in settings.api_keys.items():
        if hmac.compare_digest(key.encode(), token.encode()):
            found = account
    return found
