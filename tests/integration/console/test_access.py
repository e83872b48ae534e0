"""Signing in, CSRF and permissions, over HTTP against the running console."""

from __future__ import annotations

import base64
import re

import aiohttp
import pytest

from services.history import History
from tests.support.console import console_settings, running_console
from tests.support.history import analyzed
from tests.support.nats_server import NatsServer

TOKEN = "console-t0ken-Sup3rSecret"


def _client() -> aiohttp.ClientSession:
    # Keeps cookies from an IP address (127.0.0.1), as a browser does.
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def test_a_token_protects_pages_and_api_and_is_never_rendered(
    nats_server: NatsServer, database_url: str
) -> None:
    settings = console_settings(nats_server.url, database_url, console_auth_token=TOKEN)
    async with running_console(settings) as url, _client() as http:
        async with http.get(url + "/?q=disk", allow_redirects=False) as page:
            assert page.status == 303
            assert page.headers["Location"] == "/login?next=%2F%3Fq%3Ddisk"
        async with http.get(url + "/api/alerts") as api:
            assert api.status == 401
        async with http.get(url + "/healthz") as health:
            assert health.status == 200
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        for path in ("/", "/stats", "/api/alerts", "/api/me", "/metrics"):
            async with http.get(url + path, headers=bearer) as answer:
                assert answer.status == 200, path
                assert TOKEN not in await answer.text()


async def test_the_login_form_sets_a_strict_http_only_cookie(
    nats_server: NatsServer, database_url: str
) -> None:
    settings = console_settings(nats_server.url, database_url, console_auth_token=TOKEN)
    async with running_console(settings) as url, _client() as http:
        async with http.get(url + "/login?next=/stats") as form:
            html = await form.text()
        csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
        assert csrf is not None
        async with http.post(
            url + "/login", data={"csrf_token": csrf[1], "token": "wrong", "next": "/stats"}
        ) as bad:
            assert bad.status == 401
        good = {"csrf_token": csrf[1], "token": TOKEN, "next": "//evil.example/"}
        async with http.post(url + "/login", data=good, allow_redirects=False) as signed_in:
            assert signed_in.status == 303
            assert signed_in.headers["Location"] == "/"  # never to another site
            cookie = signed_in.headers.getall("Set-Cookie")
        session = next(c for c in cookie if c.startswith("aiops_console_session="))
        assert "HttpOnly" in session
        assert "SameSite=Strict" in session
        assert TOKEN not in session
        async with http.get(url + "/stats") as page:
            assert page.status == 200
            assert "Sign out" in await page.text()


async def test_a_login_without_the_forms_csrf_token_is_refused(
    nats_server: NatsServer, database_url: str
) -> None:
    settings = console_settings(nats_server.url, database_url, console_auth_token=TOKEN)
    async with (
        running_console(settings) as url,
        _client() as http,
        http.post(url + "/login", data={"token": TOKEN}, allow_redirects=False) as answer,
    ):
        assert answer.status == 403
        assert "aiops_console_session" not in answer.headers.get("Set-Cookie", "")


async def test_a_verdict_needs_the_csrf_token_unless_it_comes_with_a_bearer_token(
    nats_server: NatsServer, database_url: str, history: History
) -> None:
    await history.write(alerts=[analyzed(1)])
    settings = console_settings(
        nats_server.url, database_url, console_auth_token=TOKEN, console_basic_auth="alice:pw"
    )
    verdict = {"target_id": "a0000001", "verdict": "confirmed"}
    async with running_console(settings) as url, _client() as http:
        alice = {"Authorization": _basic("alice", "pw")}
        async with http.post(url + "/api/feedback", data=verdict, headers=alice) as forged:
            assert forged.status == 403
            assert "CSRF" in (await forged.json())["error"]
        async with http.get(url + "/api/me", headers=alice) as me:
            csrf = (await me.json())["csrf_token"]
        async with http.post(
            url + "/api/feedback", data=verdict, headers={**alice, "X-CSRF-Token": csrf}
        ) as ok:
            assert ok.status == 200, await ok.text()
        async with http.post(
            url + "/api/feedback", json=verdict, headers={"Authorization": f"Bearer {TOKEN}"}
        ) as api:
            assert api.status == 200, await api.text()
    stored = await history.feedback_for("a0000001")
    assert stored is not None
    assert stored.author == "token"  # the last verdict replaced alice's


async def test_a_read_only_user_reads_but_cannot_give_feedback(
    nats_server: NatsServer, database_url: str, history: History
) -> None:
    await history.write(alerts=[analyzed(1)])
    settings = console_settings(
        nats_server.url, database_url, console_basic_auth="alice:a,bob:b", console_feedback_users="alice"
    )
    async with running_console(settings) as url, _client() as http:
        bob = {"Authorization": _basic("bob", "b")}
        async with http.get(url + "/alerts/a0000001", headers=bob) as page:
            assert page.status == 200
            assert "feedback-form" not in await page.text()
        async with http.get(url + "/api/me", headers=bob) as me:
            csrf = (await me.json())["csrf_token"]
        verdict = {"target_id": "a0000001", "verdict": "confirmed"}
        async with http.post(
            url + "/api/feedback", data=verdict, headers={**bob, "X-CSRF-Token": csrf}
        ) as answer:
            assert answer.status == 403
    assert await history.feedback_for("a0000001") is None


async def test_a_trusted_proxy_names_the_user(nats_server: NatsServer, database_url: str) -> None:
    settings = console_settings(nats_server.url, database_url, console_trusted_proxies="127.0.0.1")
    async with running_console(settings) as url, _client() as http:
        async with http.get(url + "/api/me", headers={"X-Forwarded-User": "carol"}) as me:
            assert (await me.json())["user"] == "carol"
        async with http.get(url + "/api/me") as anonymous:
            assert anonymous.status == 401


async def test_without_credentials_other_machines_are_refused(
    nats_server: NatsServer, database_url: str
) -> None:
    import socket

    # The address this machine would send from (a UDP connect sends nothing).
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("198.51.100.1", 9))
            address = probe.getsockname()[0]
        except OSError:
            address = ""
    if not address or address.startswith("127."):
        pytest.skip("this machine has no address other than loopback to connect from")
    settings = console_settings(nats_server.url, database_url, console_host="0.0.0.0")
    async with running_console(settings) as url, _client() as http:
        port = url.rsplit(":", 1)[1]
        async with http.get(f"http://{address}:{port}/api/alerts") as outside:
            assert outside.status == 403
            assert "CONSOLE_AUTH_TOKEN" in (await outside.json())["error"]
        async with http.get(url + "/api/alerts") as local:
            assert local.status == 200
