"""The shared stage runtime: configuration, NATS, the consumer loop, health and telemetry.

A service owns its settings, its clients and its ``handle()``; everything about
pulling, acking, retrying, dead-lettering and shutting down lives here, once.
"""

from services.runtime._backlog import Backlog
from services.runtime._config import describe, doc, help_text, load, load_or_exit, masked
from services.runtime._errors import CONFIG_ERROR_EXIT, ConfigError, MessageTooLarge, Reject, RetryLater
from services.runtime._http import add_health_routes, nats_readiness, start_http
from services.runtime._http_spans import trace_http_status, traced_post, traced_request
from services.runtime._jetstream import (
    CONSUMERS,
    close_connection,
    connect,
    consumer_config,
    ensure_stream,
    key_value_bucket,
    provision,
    stream_config,
)
from services.runtime._logging import configure_logging
from services.runtime._metrics import StageMetrics, per_registry
from services.runtime._parts import SettingsPart, with_parts
from services.runtime._publish import ApiError, PubAck, Publisher, PublishFailed, refuse_if_too_large
from services.runtime._settings import NatsSettings, StageSettings
from services.runtime._stage import (
    Runtime,
    StageSpec,
    current_delivery,
    run_service,
    run_stage,
    serve_stage,
    stage_main,
)
from services.runtime._tracing import add_trace_context, current_trace_id, setup_tracing, tracing_enabled
from services.runtime._worker import AsyncHandler, Handler, output_msg_id

__all__ = [
    "CONFIG_ERROR_EXIT",
    "CONSUMERS",
    "ApiError",
    "AsyncHandler",
    "Backlog",
    "ConfigError",
    "Handler",
    "MessageTooLarge",
    "NatsSettings",
    "PubAck",
    "PublishFailed",
    "Publisher",
    "Reject",
    "RetryLater",
    "Runtime",
    "SettingsPart",
    "StageMetrics",
    "StageSettings",
    "StageSpec",
    "add_health_routes",
    "add_trace_context",
    "close_connection",
    "configure_logging",
    "connect",
    "consumer_config",
    "current_delivery",
    "current_trace_id",
    "describe",
    "doc",
    "ensure_stream",
    "help_text",
    "key_value_bucket",
    "load",
    "load_or_exit",
    "masked",
    "nats_readiness",
    "output_msg_id",
    "per_registry",
    "provision",
    "refuse_if_too_large",
    "run_service",
    "run_stage",
    "serve_stage",
    "setup_tracing",
    "stage_main",
    "start_http",
    "stream_config",
    "trace_http_status",
    "traced_post",
    "traced_request",
    "tracing_enabled",
    "with_parts",
]
