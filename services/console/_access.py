"""Who is asking, and what they may do: bearer token, basic auth or login cookie, a trusted proxy's
X-Forwarded-User, or (with none of those configured) anyone on this machine.

Secrets are compared in constant time and never leave this module: a user is known by name only.
Every form carries a CSRF token, an HMAC of the user and a per-browser random cookie (double submit
bound to the user), so a page on another site can neither read nor forge it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
import time
from dataclasses import dataclass

from services.console._settings import ConsoleSettings

SESSION_COOKIE = "aiops_console_session"
BROWSER_COOKIE = "aiops_console_browser"
LOCAL_USER = "local"
TOKEN_USER = "token"
PBKDF2_PREFIX = "pbkdf2_sha256$"


@dataclass(frozen=True)
class User:
    name: str
    can_give_feedback: bool
    # True when the browser attaches the credential by itself (cookie, basic auth, proxy, loopback):
    # such requests must prove they come from our own pages (the CSRF token).
    ambient: bool = True


def hash_password(password: str, *, iterations: int = 600_000, salt: str | None = None) -> str:
    """The ``pbkdf2_sha256$...`` form CONSOLE_BASIC_AUTH accepts instead of a plain password."""
    salt = salt or secrets.token_hex(8)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)
    return f"{PBKDF2_PREFIX}{iterations}${salt}${base64.b64encode(digest).decode()}"


def _password_matches(stored: str, given: str) -> bool:
    if not stored.startswith(PBKDF2_PREFIX):
        return hmac.compare_digest(stored.encode(), given.encode())
    try:
        iterations, salt, expected = stored[len(PBKDF2_PREFIX) :].split("$", 2)
        digest = hashlib.pbkdf2_hmac("sha256", given.encode(), salt.encode(), int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(base64.b64encode(digest).decode().encode(), expected.encode())


def _users(spec: str) -> dict[str, str]:
    users: dict[str, str] = {}
    for entry in spec.split(","):
        name, sep, password = entry.strip().partition(":")
        if sep and name:
            users[name] = password
    return users


def _networks(spec: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(item.strip(), strict=False) for item in spec.split(",") if item.strip()]


def is_loopback_address(remote: str | None) -> bool:
    try:
        return remote is not None and ipaddress.ip_address(remote.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


class Access:
    def __init__(self, settings: ConsoleSettings) -> None:
        self._token = settings.console_auth_token.encode()
        self._users = _users(settings.console_basic_auth)
        self._proxies = _networks(settings.console_trusted_proxies)
        writers = {name.strip() for name in settings.console_feedback_users.split(",") if name.strip()}
        self._everyone_writes = "*" in writers
        self._writers = writers
        key = settings.console_session_secret or secrets.token_hex(32)
        self._key = key.encode()
        self._session_seconds = settings.console_session_hours * 3600

    @property
    def configured(self) -> bool:
        """Credentials of some kind are set; otherwise only loopback clients are served."""
        return bool(self._token or self._users or self._proxies)

    @property
    def login_form(self) -> bool:
        return bool(self._token or self._users)

    def _user(self, name: str, *, ambient: bool = True) -> User:
        return User(name, self._everyone_writes or name in self._writers, ambient)

    def identify(
        self, *, authorization: str | None, cookie: str | None, forwarded_user: str | None, remote: str | None
    ) -> User | None:
        if forwarded_user and self._from_proxy(remote):
            return self._user(forwarded_user.strip()[:200])
        if authorization:
            scheme, _, credentials = authorization.partition(" ")
            if scheme.lower() == "bearer" and self.token_matches(credentials.strip()):
                return self._user(TOKEN_USER, ambient=False)
            if scheme.lower() == "basic" and (name := self._basic_user(credentials.strip())):
                return self._user(name)
        if cookie and (name := self._session_user(cookie)):
            return self._user(name)
        if not self.configured and is_loopback_address(remote):
            return self._user(LOCAL_USER)
        return None

    def _from_proxy(self, remote: str | None) -> bool:
        try:
            address = ipaddress.ip_address((remote or "").split("%", 1)[0])
        except ValueError:
            return False
        return any(address in network for network in self._proxies)

    def token_matches(self, token: str) -> bool:
        return bool(self._token) and hmac.compare_digest(token.encode(), self._token)

    def password_matches(self, name: str, password: str) -> bool:
        stored = self._users.get(name)
        return stored is not None and _password_matches(stored, password)

    def _basic_user(self, credentials: str) -> str | None:
        try:
            decoded = base64.b64decode(credentials, validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        name, _, password = decoded.partition(":")
        return name if self.password_matches(name, password) else None

    def _sign(self, text: str) -> str:
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()

    def session_cookie(self, name: str, now: float | None = None) -> str:
        """A login cookie's value: who, until when, signed."""
        expires = int((time.time() if now is None else now) + self._session_seconds)
        body = base64.urlsafe_b64encode(f"{expires}:{name}".encode()).decode()
        return f"{body}.{self._sign('session:' + body)}"

    def _session_user(self, cookie: str, now: float | None = None) -> str | None:
        body, _, signature = cookie.rpartition(".")
        if not body or not hmac.compare_digest(signature.encode(), self._sign("session:" + body).encode()):
            return None
        try:
            expires, _, name = base64.urlsafe_b64decode(body.encode()).decode().partition(":")
            alive = int(expires) > (time.time() if now is None else now)
        except ValueError:
            return None
        return name if alive and name else None

    def csrf_token(self, user_name: str, browser: str) -> str:
        return self._sign(f"csrf:{browser}:{user_name}")

    def csrf_valid(self, token: str, user_name: str, browser: str) -> bool:
        return bool(token and browser) and hmac.compare_digest(
            token.encode(), self.csrf_token(user_name, browser).encode()
        )
