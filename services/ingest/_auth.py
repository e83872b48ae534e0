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
        if not self.enabled:
            return True
        if not authorization:
            return False
        scheme, _, credentials = authorization.partition(" ")
        scheme = scheme.lower()
        if scheme == "bearer" and self._token:
            return hmac.compare_digest(credentials.strip().encode(), self._token)
        if scheme == "basic" and self._basic:
            try:
                decoded = base64.b64decode(credentials.strip(), validate=True)
            except (binascii.Error, ValueError):
                return False
            return hmac.compare_digest(decoded, self._basic)
        return False
