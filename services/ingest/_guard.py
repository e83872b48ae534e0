"""Who may make ingest spend LLM calls through ``POST /analyze``.

An ingest reachable from other machines (any address but loopback) with no credentials configured
lets anyone who finds it post alerts; for the webhook that is Alertmanager's own default and stays
allowed, with a warning. ``/analyze`` is refused then (403) unless the operator says otherwise:
each call may cost an LLM request. Every ``/analyze`` caller is also rate limited, per credential
when credentials are configured, per remote address otherwise.
"""

from __future__ import annotations

import ipaddress

from services.ingest._auth import Authenticator
from services.ingest._ratelimit import RateLimiter
from services.ingest._settings import IngestSettings

LOCAL_NAMES = frozenset({"localhost", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    """Only this machine can connect to ``host`` (an address or name to listen on)."""
    name = host.strip().strip("[]").lower()
    if name in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(name.split("%", 1)[0]).is_loopback
    except ValueError:
        return False  # a host name other than localhost, or "" (every address): reachable from outside


class AnalyzeGuard:
    def __init__(
        self, settings: IngestSettings, auth: Authenticator, limiter: RateLimiter | None = None
    ) -> None:
        self.settings = settings
        self.auth = auth
        self.open_to_anyone = not auth.enabled and not is_loopback(settings.ingest_host)
        self.limiter = limiter or RateLimiter(settings.analyze_rate_per_minute, settings.analyze_burst)

    def warning(self) -> str | None:
        """The start-up warning when anyone who can reach ingest may use it, else None."""
        if not self.open_to_anyone:
            return None
        analyze = (
            "POST /analyze is open to them too, and each call may cost an LLM request"
            " (ANALYZE_ALLOW_UNAUTHENTICATED=true)"
            if self.settings.analyze_allow_unauthenticated
            else "POST /analyze, which may cost an LLM request per call, answers 403"
            " until credentials are set (or ANALYZE_ALLOW_UNAUTHENTICATED=true)"
        )
        return (
            f"ingest listens on {self.settings.ingest_host or 'every address'} with no credentials"
            " (INGEST_AUTH_TOKEN and INGEST_BASIC_AUTH are empty): anyone who can reach it can post"
            f" alerts; {analyze}. Set INGEST_AUTH_TOKEN, or INGEST_HOST=127.0.0.1 to listen locally."
        )

    def refusal(self) -> str | None:
        """Why ``/analyze`` is refused to every caller (403), or None when it is served."""
        if self.open_to_anyone and not self.settings.analyze_allow_unauthenticated:
            return (
                f"/analyze is disabled: ingest listens on {self.settings.ingest_host or 'every address'}"
                " without credentials and each analysis may cost an LLM call; set INGEST_AUTH_TOKEN"
                " (or INGEST_BASIC_AUTH), or ANALYZE_ALLOW_UNAUTHENTICATED=true to accept the risk"
            )
        return None

    def retry_after(self, authorization: str | None, remote: str | None) -> float:
        """Spend one of the caller's requests; 0 when allowed, else the seconds to wait."""
        client = self.auth.identity(authorization) or f"address {remote or 'unknown'}"
        return self.limiter.take(client)
