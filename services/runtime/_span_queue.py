"""Ended spans queued and exported in batches by a thread of ours, as the SDK's batch processor does.

Both kinds of span go through it: the SDK's (ingest's request, the notifier's posts: it is the
provider's span processor) and the stages' records (_span.py), appended directly. Per span the
services pay an append to a bounded deque and two length tests; the SDK's processor adds to that
a pid check, its metrics and, in the SDK's span, the multi-processor dispatch and locks.
It honours the SDK's batching variables with the SDK's defaults:

- ``OTEL_BSP_SCHEDULE_DELAY`` (5000 ms): how long a span may wait before it is sent;
- ``OTEL_BSP_MAX_EXPORT_BATCH_SIZE`` (512): spans per export, and a batch this large goes at once;
- ``OTEL_BSP_MAX_QUEUE_SIZE`` (2048): spans that may wait; beyond it the oldest are dropped,
  counted, and the count logged after the next export;
- ``OTEL_BSP_EXPORT_TIMEOUT`` (30000 ms): how long stopping waits for the last export (a request's
  own timeout is the exporter's, ``OTEL_EXPORTER_OTLP_TIMEOUT``).
"""

from __future__ import annotations

import collections
import os
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from loguru import logger
from opentelemetry.sdk.trace import SpanProcessor

DEFAULTS = {
    "OTEL_BSP_SCHEDULE_DELAY": 5000,
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": 512,
    "OTEL_BSP_MAX_QUEUE_SIZE": 2048,
    "OTEL_BSP_EXPORT_TIMEOUT": 30000,
}


class Exporter(Protocol):
    def export(self, spans: Sequence[Any]) -> Any: ...
    def shutdown(self) -> None: ...


def batch_settings(environ: Mapping[str, str] = os.environ) -> dict[str, int]:
    """The ``OTEL_BSP_*`` variables; one that is not a positive integer keeps its default, as in the SDK."""
    settings = {}
    for name, default in DEFAULTS.items():
        text = environ.get(name, "").strip()
        try:
            value = int(text) if text else default
        except ValueError:
            value = 0
        if value <= 0:
            logger.warning("{}={!r} is not a positive integer: {} is used", name, text, default)
            value = default
        settings[name] = value
    if settings["OTEL_BSP_MAX_EXPORT_BATCH_SIZE"] > settings["OTEL_BSP_MAX_QUEUE_SIZE"]:
        settings["OTEL_BSP_MAX_EXPORT_BATCH_SIZE"] = settings["OTEL_BSP_MAX_QUEUE_SIZE"]
    return settings


class SpanQueue(SpanProcessor):
    """Spans waiting for export, and the thread that exports them; ``add`` is called per span."""

    def __init__(self, exporter: Exporter, environ: Mapping[str, str] = os.environ) -> None:
        settings = batch_settings(environ)
        self.exporter = exporter
        self.delay = settings["OTEL_BSP_SCHEDULE_DELAY"] / 1000
        self.batch_size = settings["OTEL_BSP_MAX_EXPORT_BATCH_SIZE"]
        self.timeout = settings["OTEL_BSP_EXPORT_TIMEOUT"] / 1000
        self.capacity = settings["OTEL_BSP_MAX_QUEUE_SIZE"]
        self.queue: collections.deque[Any] = collections.deque(maxlen=self.capacity)
        self.dropped = 0  # since the last export
        self.stopped = False
        self._wake = threading.Event()
        self._exporting = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="aiops-span-export", daemon=True)
        self._thread.start()

    def add(self, span: Any) -> None:
        """Queue an ended span (the hot path: no lock, no allocation besides the deque's)."""
        queue = self.queue
        if len(queue) == self.capacity:
            self.dropped += 1  # the deque lets its oldest go to take this one
        queue.append(span)
        if len(queue) >= self.batch_size and not self._wake.is_set():
            self._wake.set()

    def on_end(self, span: Any) -> None:
        """The SDK's spans, as its processors receive them."""
        if span.context.trace_flags.sampled:
            self.add(span)

    def _run(self) -> None:
        while not self.stopped:
            self._wake.wait(self.delay)
            self._wake.clear()
            self._export(everything=False)
        self._export(everything=True)

    def _export(self, everything: bool) -> None:
        """Send what waits: full batches, then (after a wait or when ``everything``) the rest."""
        with self._exporting:
            queue = self.queue
            first = True
            while queue and (everything or first or len(queue) >= self.batch_size):
                first = False
                batch = [queue.popleft() for _ in range(min(self.batch_size, len(queue)))]
                try:
                    self.exporter.export(batch)
                except Exception:
                    logger.exception("could not export {} span(s)", len(batch))
            if self.dropped:
                dropped, self.dropped = self.dropped, 0
                logger.warning(
                    "{} span(s) dropped: more than OTEL_BSP_MAX_QUEUE_SIZE={} waited", dropped, self.capacity
                )

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        if self.stopped:
            return False
        self._export(everything=True)
        return True

    def shutdown(self) -> None:
        """Export every span still queued (waiting at most ``OTEL_BSP_EXPORT_TIMEOUT``), then stop."""
        if self.stopped:
            return
        self.stopped = True
        self._wake.set()
        self._thread.join(self.timeout)
        if self._thread.is_alive():
            logger.warning("spans still being exported after {} s: stopping without them", self.timeout)
        self.exporter.shutdown()
