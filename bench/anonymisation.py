"""Anonymisation benchmark: the LLM_ANONYMIZE pass on adversarial input. ``python -m bench.anonymisation``.

Time per character on texts built against the anonymiser's patterns (runs of the characters IPs,
hosts, e-mails and names are made of; repeated keywords that open a match) against the leak
corpus's ordinary log lines, and the same texts at four times the size (linear time: the
per-character cost stays near 1x; quadratic would make it 4x). Kubernetes names on, so every pass
runs. Floors: ``ADVERSARIAL_FLOOR`` and ``LINEAR_FLOOR``, ratios only.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time

from bench._report import heading, row
from services.analyst import Anonymizer
from services.analyst.eval._paths import PRIVACY_CORPUS

ADVERSARIAL_FLOOR = 10.0
# Between linear (1x) and quadratic (4x), with room for a shared machine's noise.
LINEAR_FLOOR = 3.0
GROWTH = 4


def _per_char(text: str) -> float:
    best = float("inf")
    for _ in range(3):
        anonymizer = Anonymizer(k8s_names=True)
        began = time.perf_counter()
        anonymizer.scrub(text)
        best = min(best, time.perf_counter() - began)
    return best / len(text)


def _adversarial(scale: int) -> dict[str, str]:
    rng = random.Random(16)
    return {
        "1M-char token": "a" * 250_000 * scale,
        "dotted labels": "a." * 125_000 * scale,
        "dashed labels": "ab-" * 80_000 * scale,
        "hex and colons": "ab:" * 80_000 * scale,
        "colons": ":" * 250_000 * scale,
        "digits and dots": "1." * 125_000 * scale,
        "at signs": "a@" * 125_000 * scale,
        "almost e-mails": "a@b." * 60_000 * scale,
        "repeated user=": "user=" * 50_000 * scale,
        "repeated for user": "for user " * 28_000 * scale,
        "repeated ://a:": "://a:" * 50_000 * scale,
        "repeated pod/": "pod/" * 60_000 * scale,
        "binary junk (invalid UTF-8)": rng.randbytes(32_768 * scale).decode("utf-8", errors="replace"),
    }


def main() -> int:
    heading("anonymisation on adversarial input (time per character, best of 3; then at 4x the size)")
    lines = [json.loads(line)["line"] for line in PRIVACY_CORPUS.read_text(encoding="utf-8").splitlines()]
    ordinary_text = "\n".join(lines)
    ordinary = _per_char(ordinary_text)
    row("leak corpus log lines", f"{ordinary * 1e9:.0f} ns/char", f"{len(ordinary_text):,} chars")
    worst_ratio = worst_growth = 0.0
    small, large = _adversarial(1), _adversarial(GROWTH)
    for name, text in small.items():
        per_char, per_char_large = _per_char(text), _per_char(large[name])
        growth = per_char_large / per_char
        worst_ratio, worst_growth = max(worst_ratio, per_char / ordinary), max(worst_growth, growth)
        note = f"{per_char / ordinary:.1f}x ordinary; at {GROWTH}x the size {growth:.2f}x per char"
        row(name, f"{per_char * 1e9:.0f} ns/char", note)
    verdict = "ok" if worst_ratio <= ADVERSARIAL_FLOOR else "BELOW FLOOR"
    row("worst adversarial / ordinary", f"{worst_ratio:.1f}x", f"floor <= {ADVERSARIAL_FLOOR:g}x: {verdict}")
    verdict = "ok" if worst_growth <= LINEAR_FLOOR else "BELOW FLOOR"
    note = f"floor <= {LINEAR_FLOOR}x (quadratic would be {GROWTH}x): {verdict}"
    row(f"worst per-char cost at {GROWTH}x the size", f"{worst_growth:.2f}x", note)
    return 1 if worst_ratio > ADVERSARIAL_FLOOR or worst_growth > LINEAR_FLOOR else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
