"""``python -m services.analyst``: explains each enriched alert on alerts.analyzed."""

from __future__ import annotations

import sys

from services.analyst._build import SPEC
from services.analyst._settings import AnalystSettings
from services.runtime import load_or_exit, run_stage


def main() -> None:
    settings = load_or_exit(
        AnalystSettings,
        sys.argv[1:],
        "python -m services.analyst",
        "Explains each enriched alert on alerts.analyzed: LLM when LLM_API_KEY is set, else rules.",
    )
    run_stage(SPEC, settings)


if __name__ == "__main__":
    main()
