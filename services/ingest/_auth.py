"""Webhook authentication: bearer token or basic auth, compared in constant time."""

from __future__ import annotations

import base64
import binascii
import hmac


class Authenticator:
    def __init__(self, bearer_token: str = "", basic_auth: str = "") -> None:
        self._token = bearer_token.encode()
        self._basic = basic_auth.encode()

    @property
    def enabled(self) -> bool:
        return bool(self._token or self._basic)

    def allows(self, authorization: str | None) -> bool:
        return not self.enabled or self.identity(authorization) is not None

    def identity(self, authorization: str | None) -> str | None:
        """Who the right credentials name ("bearer token", "basic user <name>"), without the secret;
        None when they are missing or wrong (or none are configured)."""
        if not self.enabled or not authorization:
            return None
        scheme, _, credentials = authorization.partition(" ")
        scheme = scheme.lower()
        if scheme == "bearer" and self._token:
            matches = hmac.compare_digest(credentials.strip().encode(), self._token)
            return "bearer token" if matches else None
        if scheme == "basic" and self._basic:
            try:
                decoded = base64.b64decode(credentials.strip(), validate=True)
            except (binascii.Error, ValueError):
                return None
            if hmac.compare_digest(decoded, self._basic):
                return "basic user " + decoded.partition(b":")[0].decode(errors="replace")
        return None
