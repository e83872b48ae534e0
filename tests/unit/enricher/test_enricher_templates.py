"""Log lines clustered into templates: each distinct message once, errors first, within a budget."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from services.enricher import cluster, severity_of, template_of
from services.enricher._templates import within_budget

SAMPLE = Path(__file__).resolve().parents[2] / "fixtures" / "enricher" / "payments-api-incident.log"


def sample_entries() -> list[tuple[float, str]]:
    entries = []
    for row in SAMPLE.read_text(encoding="utf-8").splitlines():
        stamp, line = row.split("\t", 1)
        entries.append((datetime.fromisoformat(stamp).timestamp(), line))
    return entries


@pytest.mark.parametrize(
    ("line", "template"),
    [
        ("took 35ms after 1m30s, 2.5s", "took <n> after <n>, <n>"),
        ("request 9b2c8d0e-3f1a-4c55-8e0f-123456789abc done", "request <uuid> done"),
        ("dial tcp 10.0.3.7:5432: connect: connection refused", "dial tcp <ip>: connect: connection refused"),
        ("commit 3f9a2b1c7d pushed, ptr 0x7ffd5e8c", "commit <hex> pushed, ptr <hex>"),
        ('user="alice" msg="login failed for user"', 'user="<*>" msg="login failed for user"'),
        ("at 2024-05-14T10:00:01.123Z heap 512MiB 93%", "at <ts> heap <n> <n>"),
        ("holder=payments-api-7d9f8b6c4-x2k9p renewed", "holder=payments-api-<pod> renewed"),
        ('{"level":"error","msg":"job 42 failed"}', '{"level":"<*>","msg":"job <n> failed"}'),
        ("\tat org.postgresql.Conn.open(Conn.java:233)", "at <frame>"),
    ],
)
def test_variable_parts_are_masked(line: str, template: str) -> None:
    assert template_of(line) == template


@pytest.mark.parametrize(
    ("line", "severity"),
    [
        ("level=error msg=boom", "error"),
        ('{"level":"warn","msg":"slow"}', "warning"),
        ('level=info msg="retry failed"', "info"),  # a declared level wins over words
        ("ERROR [main] c.e.App - Failed to start", "error"),
        ("kernel: Out of memory: Killed process 4242 (java)", "error"),
        ("GET /healthz 200", "info"),
        ("WARN deprecated flag --foo", "warning"),
    ],
)
def test_severity_comes_from_the_declared_level_then_the_words(line: str, severity: str) -> None:
    assert severity_of(line) == severity


def test_500_realistic_lines_become_at_most_40_templates_and_no_distinct_error_is_lost() -> None:
    entries = sample_entries()
    assert len(entries) == 500
    templates = cluster(entries)
    assert len(templates) <= 40
    assert sum(t.count for t in templates) == 500
    kept = within_budget(templates, max_templates=40, char_budget=6000)
    error_templates = {template_of(line) for _, line in entries if severity_of(line) == "error"}
    assert len(error_templates) >= 8
    assert error_templates <= {t.template for t in kept}


def test_templates_are_ordered_by_severity_then_count_with_first_last_and_a_sample() -> None:
    templates = cluster(sample_entries())
    ranks = {"error": 0, "warning": 1, "info": 2}
    order = [(ranks[t.severity], -t.count) for t in templates]
    assert order == sorted(order)
    top = templates[0]
    assert top.severity == "error"
    assert "too many clients" in top.template
    assert top.first <= top.last
    assert template_of(top.sample) == top.template


def test_the_budget_keeps_the_most_severe_templates_and_counts_the_rest() -> None:
    templates = cluster(sample_entries())
    kept = within_budget(templates, max_templates=40, char_budget=1200)
    assert 0 < len(kept) < len(templates)
    assert sum(len(t.template) + len(t.sample) for t in kept) <= 1200
    assert all(t.severity == "error" for t in kept)
