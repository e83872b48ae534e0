"""The first-pass gate skips the detectors only where they would find nothing: every secret sample, cut,
re-cased and put under label names, comes out the same with the gate as with every detector run on it."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

import schemas
from services.ingest import parse_webhook
from services.privacy import Redactor, redact_labels
from services.privacy._gate import might_hold_secret
from tests.unit.privacy.test_bad_input import SECRET
from tests.unit.privacy.test_redact import CASES, JWT, LOOK_ALIKES, PEM

REPO = Path(__file__).resolve().parents[3]
CORPUS = REPO / "tests" / "privacy" / "corpus" / "corpus.jsonl"
INCIDENT_LOG = REPO / "tests" / "fixtures" / "enricher" / "payments-api-incident.log"
WEBHOOKS = sorted((REPO / "tests" / "fixtures" / "alertmanager").glob("*.json"))
LOGHUB = REPO / ".." / "shared" / "benchmarks" / "loghub"

# Synthetic values in the shape of the kinds test_redact.py has no line for, so that every way the gate
# opens (words in either case, short words, patterns searched for themselves) meets a secret.
SHAPES = [
    "claude key sk-ant-api03-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z rejected",
    "maps key=AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q failed",
    "clone with github_pat_11ABCDEFG0abcdefghijklmnopqrstuvwxyz0123 denied",
    "ci token glpat-Ab3dEf6hIj9kLm2nOp5q expired",
    "hub token hf_Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7 refused",
    "test charge sk_test_4eC39HqLyjWDarjtT1zdp7dc ok",
    "bot 123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw3 offline",
    "discord MTk4NjIyNDgzNDcxOTI1MjQ4.Cl2FMQ.ZnCjm1XVW7vRze4b7Cq4se7kKWs lost",
    "twilio SK0123456789abcdef0123456789abcdef rejected",
    "twilio AC0123456789abcdef0123456789abcdef rejected",
    "mail 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 failed",
    "chimp 0123456789abcdef0123456789abcdef-us12 refused",
    "azure DefaultEndpointsProtocol=https;AccountName=x;AccountKey=" + "A" * 86 + "== failed",
    "AWS_SECRET_ACCESS_KEY='wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY01'",
    "ghp_Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7c",
]

GATED = Redactor(cache_size=0)
EVERY_DETECTOR = Redactor(cache_size=0, gated=False)


def _corpus() -> list[dict[str, object]]:
    return [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]


def _samples() -> list[str]:
    lines = [line for line, *_ in CASES] + LOOK_ALIKES + SHAPES + [SECRET, JWT, PEM]
    lines += [str(entry["line"]) for entry in _corpus()]
    lines += [row.split("\t", 1)[1] for row in INCIDENT_LOG.read_text(encoding="utf-8").splitlines()]
    return lines


def _variants(line: str) -> list[str]:
    """The line, re-cased, and cut at every few characters from either end: cuts leave keys without
    values, values without keys and prefixes without their tokens."""
    step = max(1, len(line) // 16)
    cuts = [line[i:] for i in range(1, len(line), step)] + [line[:i] for i in range(1, len(line), step)]
    return [line, line.upper(), line.lower(), line.swapcase(), *cuts]


def _differences(texts: list[str]) -> list[tuple[str, str, str]]:
    found = []
    for text in texts:
        gated, full = GATED.redact(text), EVERY_DETECTOR.redact(text)
        if gated != full:
            found.append((text, gated, full))
    return found


def test_every_secret_sample_is_redacted_the_same_with_and_without_the_gate() -> None:
    samples = _samples()
    assert len(samples) >= 250
    changed = [line for line in samples if EVERY_DETECTOR.redact(line) != line]
    assert len(changed) >= 150, "the samples hold secrets for the comparison to mean something"
    texts = [variant for line in samples for variant in _variants(line)]
    assert _differences(texts) == []


def test_secrets_as_label_values_are_redacted_the_same_with_and_without_the_gate() -> None:
    values = [secret for _, secret, *_ in CASES]
    values += [str(p["value"]) for entry in _corpus() for p in entry["planted"]]  # type: ignore[attr-defined]
    names = ["password", "db_password", "token", "api_key", "secret", "sig", "dsn", "description", "instance"]
    for name in names:
        labels = {"alertname": "Leak", **{f"{name}_{i}": v for i, v in enumerate(values)}, name: values[0]}
        assert redact_labels(labels, GATED) == redact_labels(labels, EVERY_DETECTOR)
    assert redact_labels({"password": "hunter2"}, GATED) == {"password": "<secret:password>"}


def _leaky_webhook() -> bytes:
    alert = {
        "status": "firing",
        "labels": {"alertname": "Leak", "password": "hunter2", "api_key": "9f8e7d6c5b4a39281706"},
        "annotations": {f"line_{i}": line for i, (line, *_) in enumerate(CASES)},
        "startsAt": "2026-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph?token=vknrm2lzu05chxw908uz",
    }
    return json.dumps({"version": "4", "status": "firing", "alerts": [alert]}).encode()


def test_webhooks_are_published_byte_for_byte_the_same_with_and_without_the_gate() -> None:
    bodies = [path.read_bytes() for path in WEBHOOKS] + [_leaky_webhook()]
    assert len(bodies) >= 2
    now = datetime(2026, 1, 1, tzinfo=UTC)
    for body in bodies:
        gated = [schemas.encode(m) for m in parse_webhook(body, now, GATED)]
        assert gated == [schemas.encode(m) for m in parse_webhook(body, now, EVERY_DETECTOR)]
    assert b"hunter2" not in b"".join(gated)
    assert b"<secret:password>" in b"".join(gated)


def test_site_patterns_run_on_texts_the_gate_closes() -> None:
    text = "employee_id=123456 severity=critical"
    assert not might_hold_secret(text)
    assert Redactor([r"employee_id=(\d{6})"]).redact(text) == "employee_id=<secret:site> severity=critical"


@pytest.mark.parametrize(
    "text",
    [
        '"alertname": "HighCPUUsage"',
        '"severity": "critical"',
        '"instance": "node-17:9100"',
        '"job": "node-exporter"',
        '"namespace": "payments"',
        '"summary": "High CPU usage on node-17"',
        '"description": "CPU above 90% for 5m"',
        "firing",
        "a3f9c2e1d4b5a6f7",
    ],
)
def test_ordinary_alert_texts_skip_the_detectors(text: str) -> None:
    assert not might_hold_secret(text)


@pytest.mark.skipif(not LOGHUB.is_dir(), reason=f"Loghub samples not present at {LOGHUB}")
def test_real_log_lines_are_redacted_the_same_with_and_without_the_gate() -> None:
    lines = []
    for path in sorted(LOGHUB.glob("*_2k.log_structured.csv")):
        with path.open(newline="", encoding="utf-8", errors="replace") as file:
            lines += [row["Content"] for row in csv.DictReader(file)]
    assert len(lines) >= 30_000
    assert _differences(lines) == []
