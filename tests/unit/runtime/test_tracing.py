"""Trace context in and out of a stage's handling, and what reaches an OTLP collector.

Tracing is set up in this process against a local collector speaking OTLP/HTTP, then turned
off again, so the tests after these run untraced as before.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.runtime import add_trace_context, current_trace_id, setup_tracing, tracing_enabled
from services.runtime._http_spans import trace_http_status, traced_post, traced_request
from services.runtime._tracing import stop_tracing, trace_failure, traced_handling
from tests.fakes.otlp import FakeCollector, Span

REPO = Path(__file__).resolve().parents[3]
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SENDER = "00f067aa0ba902b7"
SAMPLED = f"00-{TRACE}-{SENDER}-01"
UNSAMPLED = f"00-{TRACE}-{SENDER}-00"


@pytest.fixture
async def collector(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeCollector]:
    """Tracing on, exporting to a collector; stopped (every span sent) and off afterwards."""
    async for fake in _collecting(monkeypatch):
        yield fake


@pytest.fixture
async def no_new_trace_sampled(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeCollector]:
    """As ``collector``, with a ratio sampler that samples no new trace and follows a sender's decision."""
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0")
    async for fake in _collecting(monkeypatch):
        yield fake


async def _collecting(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeCollector]:
    fake = await FakeCollector().start()
    # The SDK reads its settings from the environment itself.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", fake.endpoint)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    assert not tracing_enabled()
    try:
        assert setup_tracing("enricher")
        yield fake
    finally:
        # The exporter posts from its thread to the collector on this loop: flush off the loop.
        await asyncio.to_thread(stop_tracing)
        await fake.close()
    assert not tracing_enabled()


def handle(stage: str, headers: dict[str, str] | None, fail: bool = False) -> tuple[dict[str, str], str]:
    """What a stage publishes (its output's headers) and the trace id its log lines name."""
    try:
        with traced_handling(stage, headers):
            if fail:
                raise ValueError("cannot handle this")
            return add_trace_context({"Nats-Msg-Id": f"{stage}:alert"}), current_trace_id()
    except ValueError:
        return {}, ""


async def exported(collector: FakeCollector, count: int) -> list[Span]:
    await asyncio.to_thread(stop_tracing)  # sends every span now, then tracing is off
    assert collector.count == count, [span.name for span in collector.spans]
    return collector.spans


async def test_a_sampled_message_gets_a_span_whose_context_goes_out_with_the_result(
    collector: FakeCollector,
) -> None:
    out, logged = handle("enricher", {"Nats-Msg-Id": "alert-1", "traceparent": SAMPLED, "tracestate": "a=1"})

    version, trace_id, span_id, flags = out["traceparent"].split("-")
    assert (version, trace_id, flags) == ("00", TRACE, "01")
    assert span_id != SENDER
    assert out["tracestate"] == "a=1"
    assert out["Nats-Msg-Id"] == "enricher:alert"
    assert logged == TRACE
    (span,) = await exported(collector, 1)
    assert (span.name, span.kind, span.service) == ("enricher", "consumer", "aiops-enricher")
    assert (span.trace_id, span.span_id, span.parent_id) == (TRACE, span_id, SENDER)
    assert span.attributes == {"messaging.message.id": "alert-1"}
    assert not span.error


async def test_an_unsampled_message_is_forwarded_as_it_came_without_a_span(collector: FakeCollector) -> None:
    incoming = {"Nats-Msg-Id": "alert-2", "traceparent": UNSAMPLED, "tracestate": "a=1"}
    out, logged = handle("analyst", incoming)
    handle("notifier", {"traceparent": SAMPLED})  # so that the export below is not of nothing

    assert (out["traceparent"], out["tracestate"]) == (UNSAMPLED, "a=1")
    assert logged == TRACE  # the id is in the logs whether or not the trace is recorded
    (span,) = await exported(collector, 1)
    assert span.name == "notifier"


async def test_a_message_without_trace_context_starts_a_trace(collector: FakeCollector) -> None:
    fresh, _ = handle("enricher", {"Nats-Msg-Id": "alert-3"})
    garbled, _ = handle("enricher", {"traceparent": "00-not-a-trace-context"})

    spans = await exported(collector, 2)
    for out in (fresh, garbled):
        _, trace_id, span_id, flags = out["traceparent"].split("-")
        assert int(flags, 16) & 1  # sampled: the default sampler records every trace
        (span,) = [span for span in spans if span.span_id == span_id]
        assert (span.trace_id, span.parent_id) == (trace_id, "")
    assert fresh["traceparent"] != garbled["traceparent"]


async def test_a_failed_handling_is_an_error_span(collector: FakeCollector) -> None:
    handle("analyst", {"traceparent": SAMPLED}, fail=True)
    with traced_handling("notifier", {"traceparent": SAMPLED}):
        trace_failure("destination refused: HTTP 500")

    spans = {span.name: span for span in await exported(collector, 2)}
    assert spans["analyst"].error
    assert spans["notifier"].error


async def test_a_post_is_a_child_span_and_carries_its_own_context(collector: FakeCollector) -> None:
    with traced_handling("notifier", {"traceparent": SAMPLED}):
        with traced_post("https://hooks.example.com/services/T0/B0/secret"):
            sent = add_trace_context({})
        after = add_trace_context({})

    spans = {span.name: span for span in await exported(collector, 2)}
    stage, post = spans["notifier"], spans["POST"]
    assert (post.kind, post.parent_id, post.trace_id) == ("client", stage.span_id, TRACE)
    assert post.attributes["server.address"] == "hooks.example.com"  # the path is a credential
    assert sent["traceparent"] == f"00-{TRACE}-{post.span_id}-01"
    assert after["traceparent"] == f"00-{TRACE}-{stage.span_id}-01"


async def test_a_post_in_an_unsampled_trace_has_no_span_and_forwards_the_context(
    collector: FakeCollector,
) -> None:
    with traced_handling("notifier", {"traceparent": UNSAMPLED}), traced_post("https://hooks.example.com/x"):
        sent = add_trace_context({})
    handle("analyst", {"traceparent": SAMPLED})

    assert sent == {"traceparent": UNSAMPLED}
    (span,) = await exported(collector, 1)
    assert span.name == "analyst"


async def test_a_ratio_sampler_follows_the_senders_decision(no_new_trace_sampled: FakeCollector) -> None:
    root, _ = handle("enricher", {"Nats-Msg-Id": "alert-4"})
    continued, _ = handle("enricher", {"traceparent": SAMPLED})
    spans = await exported(no_new_trace_sampled, 1)

    # Not sampled, and passed on so that later stages skip it too.
    assert not int(root["traceparent"].split("-")[3], 16) & 1
    assert continued["traceparent"].split("-")[1] == TRACE
    assert spans[0].parent_id == SENDER


def request(headers: dict[str, str], status: int = 200) -> tuple[dict[str, str], str]:
    """What ingest sends on with a webhook's alerts (their headers) and the trace id its log lines name."""
    with traced_request("POST", "/webhook/alertmanager", headers) as span:
        out, logged = add_trace_context({}), current_trace_id()
        trace_http_status(span, status, status >= 500)
    return out, logged


async def test_a_request_span_starts_a_trace_or_continues_the_senders(collector: FakeCollector) -> None:
    root, logged = request({})
    continued, _ = request({"traceparent": SAMPLED, "tracestate": "a=1"}, status=503)
    unsampled, _ = request({"traceparent": UNSAMPLED, "tracestate": "a=1"})

    spans = {span.parent_id: span for span in await exported(collector, 2)}
    first, second = spans[""], spans[SENDER]
    assert root["traceparent"] == f"00-{first.trace_id}-{first.span_id}-03"  # sampled, random trace id
    assert logged == first.trace_id
    assert (first.name, first.kind, first.service) == (
        "POST /webhook/alertmanager",
        "server",
        "aiops-enricher",
    )
    assert first.attributes == {
        "http.request.method": "POST",
        "http.route": "/webhook/alertmanager",
        "http.response.status_code": 200,
    }
    assert not first.error
    assert continued == {"traceparent": f"00-{TRACE}-{second.span_id}-01", "tracestate": "a=1"}
    assert (second.trace_id, second.error) == (TRACE, True)
    assert unsampled == {"traceparent": UNSAMPLED, "tracestate": "a=1"}  # no span, passed on as it came


@pytest.mark.parametrize(
    "malformed",
    [
        "zz-" + "g" * 32 + "-" + "x" * 16 + "-00",  # the right length, not hex
        f"00-{'0' * 32}-{'0' * 16}-00",  # ids all zeros: invalid by W3C
        f"00-{TRACE}-{SENDER}-0",  # one character short
    ],
)
async def test_a_malformed_traceparent_from_a_sender_starts_a_new_trace(
    collector: FakeCollector, malformed: str
) -> None:
    out, logged = request({"traceparent": malformed})

    (span,) = await exported(collector, 1)
    assert out["traceparent"] == f"00-{span.trace_id}-{span.span_id}-03"  # never the sender's header
    assert (logged, span.parent_id) == (span.trace_id, "")


async def test_a_request_span_follows_a_ratio_samplers_decision(no_new_trace_sampled: FakeCollector) -> None:
    root, logged = request({})
    continued, _ = request({"traceparent": SAMPLED})
    spans = await exported(no_new_trace_sampled, 1)

    version, trace_id, _, flags = root["traceparent"].split("-")
    assert (version, flags, logged) == ("00", "02", trace_id)  # not sampled: later stages skip it too
    assert spans[0].parent_id == SENDER
    assert continued["traceparent"] == f"00-{TRACE}-{spans[0].span_id}-01"


def test_with_tracing_off_nothing_is_added_nor_imported() -> None:
    """Run in a process of its own: this one has imported the SDK for the tests above."""
    script = """
import sys
from services.runtime import add_trace_context, current_trace_id, setup_tracing
from services.runtime._tracing import traced_handling
assert not setup_tracing("enricher", {"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"})
assert not setup_tracing("enricher", {})
with traced_handling("enricher", {"traceparent": sys.argv[1]}):
    assert add_trace_context({"Nats-Msg-Id": "a"}) == {"Nats-Msg-Id": "a"}
    assert current_trace_id() == ""
print(sorted(name for name in sys.modules if name.startswith("opentelemetry")))
"""
    done = subprocess.run(
        [sys.executable, "-c", script, SAMPLED],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
