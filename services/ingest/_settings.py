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
