"""``python -m services.history``: keep every analysis, incident event and verdict in SQL."""

import gc
import sys

from services.history._build import SPEC
from services.history._db import backend_of
from services.history._settings import HistorySettings
from services.runtime import load_or_exit, run_stage

PROGRAM = "python -m services.history"
SUMMARY = "Keeps analyses, incidents and verdicts in SQLite or PostgreSQL."
# Young objects allowed before the cyclic collector runs (Python's default: 700). Each analysis decodes
# into dozens of containers, in no cycle, that live until their batch is written: at the default the
# collector ran every few messages, scanned the waiting batch again each time and promoted it to be
# scanned with everything else (the pipeline bench's 20,000 alerts: 0.31 s of CPU collecting, 0.01 s here).
YOUNG_OBJECTS_PER_COLLECTION = 20_000


def main() -> None:
    settings = load_or_exit(HistorySettings, sys.argv[1:], PROGRAM, SUMMARY)
    try:
        backend_of(settings.database_url)
    except ValueError as exc:
        print(f"{PROGRAM}: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    # (What start-up made is frozen by the runtime's run_service, as in every service.)
    gc.set_threshold(YOUNG_OBJECTS_PER_COLLECTION, *gc.get_threshold()[1:])
    run_stage(SPEC, settings)


if __name__ == "__main__":
    main()
