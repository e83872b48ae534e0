from __future__ import annotations

from typing import Annotated

from services.runtime import NatsSettings, doc


class IngestSettings(NatsSettings, kw_only=True, frozen=True):
    ingest_host: Annotated[str, doc("Address the webhook server listens on")] = "0.0.0.0"
    ingest_port: Annotated[int, doc("Port of the webhook, /analyze, /queue/status and health endpoints")] = (
        8000
    )
    ingest_auth_token: Annotated[
        str, doc("When set, requests must carry 'Authorization: Bearer <token>'", secret=True)
    ] = ""
    ingest_basic_auth: Annotated[
        str, doc("When set ('user:password'), requests may use HTTP basic auth instead", secret=True)
    ] = ""
    ingest_max_body_bytes: Annotated[int, doc("Largest request body accepted (413 above)")] = 4 * 1024 * 1024
    ingest_body_timeout_seconds: Annotated[float, doc("Time a client gets to send its body (408 after)")] = (
        10.0
    )
    ingest_publish_timeout_seconds: Annotated[
        float, doc("Time JetStream gets to acknowledge a request's alerts (503 after)")
    ] = 5.0
    analyze_max_wait_seconds: Annotated[float, doc("Upper bound for POST /analyze?wait=SECONDS")] = 300.0
    analyze_allow_unauthenticated: Annotated[
        bool,
        doc(
            "Serve POST /analyze (each call may cost an LLM request) to anyone when ingest listens on a"
            " non-loopback address without INGEST_AUTH_TOKEN/INGEST_BASIC_AUTH; refused (403) otherwise"
        ),
    ] = False
    analyze_rate_per_minute: Annotated[
        float,
        doc("POST /analyze calls each client (credential, else address) may make per minute; 0: no limit"),
    ] = 30.0
    analyze_burst: Annotated[
        int, doc("POST /analyze calls a client may make at once before the rate applies")
    ] = 10
    redact_patterns: Annotated[
        str,
        doc(
            "Site-specific secret patterns redacted besides the built-in ones: a JSON list of regular "
            "expressions or one per line; a pattern's first group, if any, is what is replaced"
        ),
    ] = ""
