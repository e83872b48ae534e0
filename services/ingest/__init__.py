"""ingest: Alertmanager's webhook and manual alerts in, ``alerts.raw`` out.

_app          the routes, and the middleware that answers every refusal once
_errors       every refusal with the HTTP status the sender gets
_body         a request's body, within the size, type and time limits
_parse        bodies to ``alerts.raw`` messages, secrets redacted (pure)
_store        publishing, answered only once JetStream acknowledged every alert
_auth         bearer token or basic auth
_guard        who may spend LLM calls through ``/analyze``; _ratelimit: its per-client budget
_waiters      ``/analyze?wait=``: the analysis handed to whoever waits for it
_queue        ``/queue/status`` and the consumer-lag gauges
_metrics      ingest's counters and gauges
_serve        start, serve, stop
"""

from services.ingest._app import Ingest
from services.ingest._auth import Authenticator
from services.ingest._errors import BadRequest
from services.ingest._parse import parse_manual, parse_webhook
from services.ingest._serve import run_ingest, serve_ingest
from services.ingest._settings import IngestSettings

__all__ = [
    "Authenticator",
    "BadRequest",
    "Ingest",
    "IngestSettings",
    "parse_manual",
    "parse_webhook",
    "run_ingest",
    "serve_ingest",
]
