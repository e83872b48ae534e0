"""Settings every service shares: where NATS is, the stream, the consumer, logs, health port."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from services.runtime._config import doc


class NatsSettings(msgspec.Struct, kw_only=True, frozen=True):
    nats_url: Annotated[str, doc("NATS server URL(s), comma-separated for a cluster")] = (
        "nats://127.0.0.1:4222"
    )
    nats_creds: Annotated[str, doc("Path to a NATS credentials (.creds) file")] = ""
    nats_token: Annotated[str, doc("NATS auth token", secret=True)] = ""
    stream_max_age_hours: Annotated[
        float,
        doc("How long the ALERTS stream keeps messages (replay horizon; incidents read exemplars there)"),
    ] = 168.0
    stream_duplicate_window_seconds: Annotated[
        float,
        doc(
            "Window in which JetStream drops a message whose Nats-Msg-Id it has seen (keep it over 10 s:"
            " writes are sent again within that)"
        ),
    ] = 600.0
    stream_replicas: Annotated[int, doc("Stream replicas (3 on a three-node cluster)")] = 1
    stream_max_bytes: Annotated[int, doc("Stream size cap in bytes, -1 for none")] = -1
    log_level: Annotated[str, doc("DEBUG, INFO, WARNING or ERROR")] = "INFO"
    log_format: Annotated[Literal["text", "json"], doc("text for people, json for log shippers")] = "text"
    process_nice: Annotated[
        int,
        doc(
            "Added to the process's niceness at start (0-19, as nice(1)); `aiops up` gives 5 to every"
            " service but the analyst, so on a shared host the heaviest stage gets a core first"
        ),
        msgspec.Meta(ge=0, le=19),
    ] = 0


# What a stage without I/O (no sources, rules only, log only) takes at once: it holds no task or
# connection per message, and a batch's fixed work (the analyst's turn placing alerts in incidents)
# is shared by more alerts.
INLINE_CAPACITY = 512


class StageSettings(NatsSettings, kw_only=True, frozen=True):
    max_in_flight: Annotated[
        int,
        doc(
            "Messages one replica processes at once; a stage with no I/O to do (no sources, rules only,"
            " log only) takes whole batches of up to 512"
        ),
    ] = 64
    ack_wait_seconds: Annotated[float, doc("Seconds before JetStream redelivers an unacked message")] = 30.0
    max_deliver: Annotated[int, doc("Deliveries before a message is dead-lettered")] = 8
    retry_backoff_seconds: Annotated[
        list[float], doc("Delays for successive retries (comma-separated); the last repeats")
    ] = msgspec.field(default_factory=lambda: [1.0, 5.0, 15.0, 30.0, 60.0])
    health_port: Annotated[int, doc("Port of /healthz, /readyz and /metrics; 0 picks a free one")] = 0
    health_host: Annotated[str, doc("Address the health server listens on")] = "0.0.0.0"
    shutdown_grace_seconds: Annotated[float, doc("Time in-flight work gets to finish on SIGTERM")] = 20.0

    @property
    def most_held(self) -> int:
        """The most messages one replica holds unacknowledged: MAX_IN_FLIGHT, or an inline batch."""
        return max(self.max_in_flight, INLINE_CAPACITY)
