"""Log lines clustered into templates: each distinct message once, errors first, within a budget."""

from __future__ import annotations

import statistics
from datetime import datetime
from pathlib import Path

import pytest

from bench.templates import grouping_accuracy, loghub_samples
from services.enricher import cluster, severity_of, template_of
from services.enricher._templates import cluster_labels, within_budget

SAMPLE = Path(__file__).resolve().parents[2] / "fixtures" / "enricher" / "payments-api-incident.log"
LOGHUB = Path(__file__).resolve().parents[3] / ".." / "shared" / "benchmarks" / "loghub"


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
        ("at 2024-05-14T10:00:01.123Z heap 512MiB 93%", "at <ts> heap <n> <n>"),
        ("holder=payments-api-7d9f8b6c4-x2k9p renewed", "holder=<pod> renewed"),
        (
            '{"level":"error","msg":"job 42 failed","attempt":3}',
            '{"level":"error","msg":"job <n> failed","attempt":<n>}',
        ),
        ("\tat org.postgresql.Conn.open(Conn.java:233)", "at <frame>"),
        (
            "PacketResponder 1 for block blk_-6952295868487656571 terminating",
            "PacketResponder <n> for block <*> terminating",
        ),
        ("connection from 10.1.2.3 () at Sun Jul 10 03:55:15 2005", "connection from <ip> () at <ts>"),
        ("uid=0 euid=0 tty=ssh rhost=node-12.example.org", "uid=<n> euid=<n> tty=ssh rhost=<*>"),
        ("2034 bytes (1.98 KB) sent, lifetime <1 sec", "<n> bytes sent, lifetime <n>"),
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


def lines_at(lines: list[str]) -> list[tuple[float, str]]:
    return [(float(second), line) for second, line in enumerate(lines)]


def test_names_without_digits_merge_into_one_template_when_they_vary_widely() -> None:
    users = ["root", "admin", "oracle", "git", "ftp", "alice"]
    lines = [
        f"Failed password for {user} from 10.0.0.{n} port {4000 + n} ssh2" for n, user in enumerate(users)
    ]
    lines += [f'msg="login failed" user="{user}"' for user in users]
    templates = {t.template: t.count for t in cluster(lines_at(lines))}
    assert templates == {
        "Failed password for <*> from <ip> port <n> <*>": 6,
        'msg="login failed" user="<*>"': 6,
    }


def test_a_word_taking_only_a_few_values_names_the_message_and_keeps_templates_apart() -> None:
    uuid = "b9000564-fe1a-409b-b8cc-1e88b294cd1d"
    lines = [f"[instance: {uuid}] VM {state} (Lifecycle Event)" for state in ["Started", "Paused"] * 10]
    lines += [f"getTasks: caller {n} does not hold REAL_GET_TASKS" for n in range(5)]
    lines += [f"getRunningAppProcesses: caller {n} does not hold REAL_GET_TASKS" for n in range(5)]
    templates = {t.template: t.count for t in cluster(lines_at(lines))}
    assert templates == {
        "[instance: <uuid>] VM Started (Lifecycle Event)": 10,
        "[instance: <uuid>] VM Paused (Lifecycle Event)": 10,
        "getTasks: caller <n> does not hold REAL_GET_TASKS": 5,
        "getRunningAppProcesses: caller <n> does not hold REAL_GET_TASKS": 5,
    }


def test_an_error_and_an_info_line_of_one_shape_stay_in_templates_of_their_own() -> None:
    lines = ['{"level":"error","msg":"job 1 done"}', '{"level":"info","msg":"job 2 done"}']
    assert sorted((t.severity, t.count) for t in cluster(lines_at(lines))) == [("error", 1), ("info", 1)]


def test_500_realistic_lines_become_at_most_40_templates_and_no_distinct_error_is_lost() -> None:
    entries = sample_entries()
    assert len(entries) == 500
    templates = cluster(entries)
    assert len(templates) <= 40
    assert sum(t.count for t in templates) == 500
    kept = within_budget(templates, max_templates=40, char_budget=6000)
    error_lines = [line for _, line in entries if severity_of(line) == "error"]
    kept_errors = [t for t in kept if t.severity == "error"]
    assert len(kept_errors) >= 8
    assert sum(t.count for t in kept_errors) == len(error_lines)


def test_templates_are_ordered_by_severity_then_count_with_first_last_and_a_sample() -> None:
    templates = cluster(sample_entries())
    ranks = {"error": 0, "warning": 1, "info": 2}
    order = [(ranks[t.severity], -t.count) for t in templates]
    assert order == sorted(order)
    top = templates[0]
    assert top.severity == "error"
    assert "too many clients" in top.template
    assert top.first <= top.last
    # The sample is one of the template's lines: the same words, or a value where the template has <*>.
    own = template_of(top.sample).split()
    assert len(own) == len(top.template.split())
    assert all(a == b or "<*>" in a for a, b in zip(top.template.split(), own, strict=True))
    assert own != top.template.split()


def test_the_budget_keeps_the_most_severe_templates_and_counts_the_rest() -> None:
    templates = cluster(sample_entries())
    kept = within_budget(templates, max_templates=40, char_budget=1200)
    assert 0 < len(kept) < len(templates)
    assert sum(len(t.template) + len(t.sample) for t in kept) <= 1200
    assert all(t.severity == "error" for t in kept)


@pytest.mark.skipif(
    not LOGHUB.is_dir(), reason=f"Loghub samples not found at {LOGHUB} (../shared/benchmarks)"
)
def test_loghub_lines_are_grouped_as_their_labelled_events() -> None:
    """Loghub (https://github.com/logpai/loghub; Zhu et al., ISSRE 2023): 16 systems, 2,000 lines each."""
    accuracies = {
        sample.system: grouping_accuracy(cluster_labels(sample.lines), sample.events)
        for sample in loghub_samples(LOGHUB)
    }
    assert len(accuracies) == 16
    assert statistics.fmean(accuracies.values()) >= 0.90, accuracies
    assert min(accuracies.values()) >= 0.5, accuracies
