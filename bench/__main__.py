"""``just bench``: every benchmark, one after the other (they share two cores, so never in parallel)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

BENCHMARKS = [
    "bench.pipeline",
    "bench.incident_work",
    "bench.tracing",
    "bench.enrichment",
    "bench.redaction",
    "bench.templates",
    "bench.analyst",
    "bench.anonymisation",
    "bench.status",
    "bench.history",
]

failed = []
for module in BENCHMARKS:
    if importlib.util.find_spec(module) is None:
        print(f"\n== {module}: not present, skipped")
        continue
    sized = module in ("bench.pipeline", "bench.tracing")  # these take N alerts
    code = subprocess.call([sys.executable, "-m", module, *(sys.argv[1:2] if sized else [])])
    if code != 0:
        failed.append(module)
if failed:
    print(f"\nbelow a floor or failed: {', '.join(failed)}")
    sys.exit(1)
