"""``python -m services.history``: keep every analysis, incident event and verdict in SQL."""

import sys

from services.history._build import SPEC
from services.history._db import backend_of
from services.history._settings import HistorySettings
from services.runtime import load_or_exit, run_stage

PROGRAM = "python -m services.history"
SUMMARY = "Keeps analyses, incidents and verdicts in SQLite or PostgreSQL."


def main() -> None:
    settings = load_or_exit(HistorySettings, sys.argv[1:], PROGRAM, SUMMARY)
    try:
        backend_of(settings.database_url)
    except ValueError as exc:
        print(f"{PROGRAM}: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    run_stage(SPEC, settings)


if __name__ == "__main__":
    main()
