"""Where the public benchmark inputs and the project's labels of them are."""

from __future__ import annotations

from pathlib import Path

_REPO = Path(__file__).resolve().parents[3]
# Read at run time only, never copied into the project; absent on a bare checkout.
DEFAULT_BENCHMARKS_DIR = _REPO / ".." / "shared" / "benchmarks"
DEFAULT_LABELS_DIR = _REPO / "tests" / "benchmarks" / "labels"
PRIVACY_CORPUS = _REPO / "tests" / "privacy" / "corpus" / "corpus.jsonl"
RULES_INPUT = "prometheus-rules.json"
INCIDENTS_INPUT = "holmesgpt-incidents.json"


def benchmarks_present(directory: Path) -> bool:
    return (directory / RULES_INPUT).is_file() and (directory / INCIDENTS_INPUT).is_file()
