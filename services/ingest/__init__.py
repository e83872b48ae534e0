"""ingest: Alertmanager's webhook and manual alerts in, ``alerts.raw`` out."""

from services.ingest._app import Ingest
from services.ingest._auth import Authenticator
from services.ingest._parse import BadRequest, parse_manual, parse_webhook
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
