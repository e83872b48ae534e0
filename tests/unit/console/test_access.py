"""Who the console lets in, as whom, and what they may do."""

from __future__ import annotations

import base64

from services.console import Access, ConsoleSettings, hash_password
from services.runtime import load

LOOPBACK, ELSEWHERE = "127.0.0.1", "192.0.2.50"


def _access(**env: str) -> Access:
    return Access(load(ConsoleSettings, {k.upper(): v for k, v in env.items()}))


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _who(
    access: Access,
    *,
    authorization: str | None = None,
    cookie: str | None = None,
    forwarded: str | None = None,
    remote: str = ELSEWHERE,
) -> str | None:
    user = access.identify(
        authorization=authorization, cookie=cookie, forwarded_user=forwarded, remote=remote
    )
    return user.name if user else None


def test_without_credentials_only_this_machine_is_served() -> None:
    access = _access()
    assert _who(access, remote=LOOPBACK) == "local"
    assert _who(access, remote="::1") == "local"
    assert _who(access, remote=ELSEWHERE) is None
    assert _who(access, forwarded="mallory", remote=ELSEWHERE) is None


def test_a_bearer_token_lets_in_and_is_not_an_ambient_credential() -> None:
    access = _access(console_auth_token="t0ken-value")
    user = access.identify(
        authorization="Bearer t0ken-value", cookie=None, forwarded_user=None, remote=ELSEWHERE
    )
    assert user is not None
    assert not user.ambient  # a browser never attaches it by itself: no CSRF token needed
    assert _who(access, authorization="Bearer wrong") is None
    assert _who(access, remote=LOOPBACK) is None  # credentials configured: loopback is no pass


def test_basic_auth_takes_plain_and_pbkdf2_passwords() -> None:
    hashed = hash_password("correct horse", iterations=1000)
    assert "correct horse" not in hashed
    access = _access(console_basic_auth=f"alice:plain-pw,bob:{hashed}")
    assert _who(access, authorization=_basic("alice", "plain-pw")) == "alice"
    assert _who(access, authorization=_basic("bob", "correct horse")) == "bob"
    assert _who(access, authorization=_basic("bob", "wrong")) is None
    assert _who(access, authorization=_basic("carol", "plain-pw")) is None
    assert _who(access, authorization="Basic not-base64!") is None


def test_a_login_cookie_names_its_user_until_it_expires_and_cannot_be_forged() -> None:
    access = _access(console_auth_token="t", console_session_secret="k" * 32, console_session_hours="1")
    cookie = access.session_cookie("alice")
    assert _who(access, cookie=cookie) == "alice"
    body, _, signature = cookie.rpartition(".")
    forged = base64.urlsafe_b64encode(base64.urlsafe_b64decode(body).replace(b"alice", b"admin")).decode()
    assert _who(access, cookie=f"{forged}.{signature}") is None
    expired = access.session_cookie("alice", now=0.0)
    assert _who(access, cookie=expired) is None
    other_key = _access(console_auth_token="t", console_session_secret="x" * 32)
    assert _who(other_key, cookie=cookie) is None


def test_csrf_tokens_are_bound_to_the_user_and_the_browser() -> None:
    access = _access(console_auth_token="t")
    token = access.csrf_token("alice", "browser-1")
    assert access.csrf_valid(token, "alice", "browser-1")
    assert not access.csrf_valid(token, "bob", "browser-1")
    assert not access.csrf_valid(token, "alice", "browser-2")
    assert not access.csrf_valid("", "alice", "browser-1")
    assert not access.csrf_valid(token, "alice", "")


def test_x_forwarded_user_counts_only_from_a_trusted_proxy() -> None:
    access = _access(console_trusted_proxies="10.0.0.0/8, 192.0.2.7")
    assert _who(access, forwarded="carol", remote="10.1.2.3") == "carol"
    assert _who(access, forwarded="carol", remote="192.0.2.7") == "carol"
    assert _who(access, forwarded="carol", remote="192.0.2.8") is None


def test_feedback_permission_follows_console_feedback_users() -> None:
    access = _access(console_basic_auth="alice:a,bob:b", console_feedback_users="alice")
    alice = access.identify(
        authorization=_basic("alice", "a"), cookie=None, forwarded_user=None, remote=ELSEWHERE
    )
    bob = access.identify(
        authorization=_basic("bob", "b"), cookie=None, forwarded_user=None, remote=ELSEWHERE
    )
    assert alice is not None
    assert alice.can_give_feedback
    assert bob is not None
    assert not bob.can_give_feedback
