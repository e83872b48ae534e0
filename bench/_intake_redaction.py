"""What redaction costs ingest per alert, with the first-pass gate and with every detector on every text.

The pipeline benchmark's webhooks (tests/support/webhooks.py: distinct instances, summaries and
fingerprints, as a storm sends them) go through ingest's pure path, body to published bytes
(``parse_webhook`` + ``schemas.encode``), three ways in turn, round by round: no redaction, the gated
redactor ingest runs, and one running every detector on every text (today's redactor without its gate). CPU
time per alert (``time.process_time``), best round of each: the three share the machine's load.
Floor: what redaction adds with the gate / what it adds without ≤ ``GATE_FLOOR``.
"""

from __future__ import annotations

import time

import schemas
from bench._report import heading, row
from services.ingest import parse_webhook
from services.privacy import Redactor
from tests.support.webhooks import ALERTS_PER_WEBHOOK, webhook

GATE_FLOOR = 0.6
ROUNDS = 15
WEBHOOKS_PER_ROUND = 60


class Unredacted(Redactor):
    """No redaction: every text passes as it is (the baseline of both redaction benches)."""

    def redact(self, text: str) -> str:
        return text


def _cpu_per_alert(redactor: Redactor, bodies: list[bytes]) -> float:
    began = time.process_time()
    for body in bodies:
        for message in parse_webhook(body, redactor=redactor):
            schemas.encode(message)
    return (time.process_time() - began) / (len(bodies) * ALERTS_PER_WEBHOOK)


def intake() -> float:
    heading("redaction at ingest: webhook body -> published bytes, CPU per alert (best of rounds)")
    redactors = {
        "no redaction": Unredacted(),
        "first-pass gate (ingest)": Redactor(),
        "every detector on every text": Redactor(gated=False),
    }
    best = dict.fromkeys(redactors, float("inf"))
    for round_ in range(ROUNDS):
        # Fresh alerts each round, as a storm brings: the short-text cache holds only what recurs.
        first = round_ * WEBHOOKS_PER_ROUND
        bodies = [webhook("intake", (first + n) * ALERTS_PER_WEBHOOK) for n in range(WEBHOOKS_PER_ROUND)]
        for name, redactor in redactors.items():
            best[name] = min(best[name], _cpu_per_alert(redactor, bodies))
    bare, gated, full = best.values()
    for name, seconds in best.items():
        row(name, f"{seconds * 1e6:.1f} µs")
    ratio = (gated - bare) / (full - bare)
    verdict = "ok" if ratio <= GATE_FLOOR else "BELOW FLOOR"
    row("redaction's cost, gated / every detector", f"{ratio:.2f}x", f"floor <= {GATE_FLOOR}x: {verdict}")
    return ratio
