"""What ``aiops setup`` tries before it writes: one real LLM call, a Slack test post, Prometheus' and
Loki's readiness. Each answers a ``Check``; none raises, a failure's ``detail`` is the reason to show.

Secrets (keys, webhook URLs) never appear in a detail: a reason names the host, the status and the
server's own words.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import openai

from services.analyst._llm import response_format
from services.analyst._settings import AnalystSettings
from services.runtime import ConfigError, load

# An interactive person waits this long at most; a local model loading may need most of it.
LLM_TEST_TIMEOUT = 60.0
HTTP_TIMEOUT = 10.0
# The word JSON is there because JSON mode refuses a prompt without it (OpenAI, DeepSeek).
LLM_TEST_PROMPT = 'This is a connection test. Reply with the JSON object {"ok": true}.'
SLACK_TEST_TEXT = "aiops setup: test message. Alert analyses will be posted here."


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: str


def host_of(url: str) -> str:
    """Scheme, host and port only: what may be shown of a URL that could carry a secret path."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}"


def without_userinfo(url: str) -> str:
    """The URL without ``user:password@``, for showing."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _server_words(body: Any) -> str:
    if isinstance(body, dict):
        error = body.get("error", body)
        message = error.get("message") if isinstance(error, dict) else error
        return str(message)[:200]
    return str(body)[:200] if body else ""


def check_llm(env: Mapping[str, str]) -> Check:
    """One chat completion with the analyst's own settings, client and response format."""
    try:
        settings = load(AnalystSettings, env)
    except ConfigError as exc:
        return Check(False, f"configuration error: {exc}")
    timeout = min(settings.llm_timeout, LLM_TEST_TIMEOUT)
    where = host_of(settings.llm_base_url)
    fmt = response_format(settings.llm_response_format)
    extra: dict[str, Any] = {"response_format": fmt} if fmt else {}
    client = openai.OpenAI(
        api_key=settings.llm_api_key, base_url=settings.llm_base_url, timeout=timeout, max_retries=0
    )
    started = time.perf_counter()
    try:
        response = client.chat.completions.create(
            model=settings.llm_model,
            messages=[{"role": "user", "content": LLM_TEST_PROMPT}],
            max_tokens=16,
            temperature=0,
            **extra,
        )
    except openai.AuthenticationError:
        return Check(False, f"{where} refused the API key (401)")
    except openai.APIStatusError as exc:
        return Check(False, f"{where} answered {exc.status_code}: {_server_words(exc.body)}")
    except openai.APITimeoutError:
        return Check(False, f"{where} did not answer within {timeout:g} s")
    except openai.APIConnectionError as exc:
        cause = exc.__cause__ or exc
        return Check(False, f"cannot connect to {where}: {cause}")
    finally:
        client.close()
    took = time.perf_counter() - started
    tokens = response.usage.total_tokens if response.usage else 0
    return Check(True, f"{settings.llm_model} at {where} answered in {took:.1f} s ({tokens} tokens)")


def _http(request: urllib.request.Request) -> tuple[int, str]:
    """Status and body of one request; (0, reason) when no answer came."""
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
            return response.status, response.read(2000).decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(2000).decode(errors="replace")
    except urllib.error.URLError as exc:
        return 0, str(exc.reason)
    except (OSError, ValueError) as exc:
        return 0, str(exc) or type(exc).__name__


def check_slack(webhook_url: str) -> Check:
    """A test post to an incoming webhook; Slack answers 200 ``ok``."""
    request = urllib.request.Request(
        webhook_url,
        data=json.dumps({"text": SLACK_TEST_TEXT}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    status, body = _http(request)
    if status == 0:
        return Check(False, f"cannot reach {host_of(webhook_url)}: {body}")
    if status != 200:
        return Check(False, f"Slack answered {status} {body.strip()[:200]}")
    return Check(True, f"Slack answered {status} {body.strip()[:40]}")


def _auth_headers(env: Mapping[str, str], prefix: str) -> dict[str, str]:
    """The enricher's credentials for that backend (PROMETHEUS_* or LOKI_*), if the file has them."""
    headers: dict[str, str] = {}
    if token := env.get(f"{prefix}_BEARER_TOKEN"):
        headers["Authorization"] = f"Bearer {token}"
    elif user := env.get(f"{prefix}_USERNAME"):
        pair = f"{user}:{env.get(f'{prefix}_PASSWORD', '')}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
    if tenant := env.get(f"{prefix}_TENANT"):
        headers["X-Scope-OrgID"] = tenant
    return headers


def check_ready(name: str, base_url: str, path: str, env: Mapping[str, str]) -> Check:
    """GET base_url + path (Prometheus ``/-/ready``, Loki ``/ready``): 200 means ready."""
    request = urllib.request.Request(base_url.rstrip("/") + path, headers=_auth_headers(env, name.upper()))
    url = without_userinfo(request.full_url)
    status, body = _http(request)
    if status == 0:
        return Check(False, f"cannot reach {url}: {body}")
    if status != 200:
        return Check(False, f"{url} answered {status}: {body.strip()[:200]}")
    return Check(True, f"{url} is ready")
