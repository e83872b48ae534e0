"""``python -m services.enricher``: alerts.raw → metric and log evidence → alerts.enriched."""

from __future__ import annotations

import sys

import schemas
from services.enricher._build import build
from services.enricher._settings import EnricherSettings
from services.runtime import StageSpec, load_or_exit, run_stage


def main() -> None:
    settings = load_or_exit(
        EnricherSettings,
        sys.argv[1:],
        "python -m services.enricher",
        "Adds Prometheus metrics and Loki logs around each alert's start, summarised for a reader.",
    )
    run_stage(
        StageSpec(
            name="enricher",
            input_subject=schemas.RAW,
            input_type=schemas.RawAlert,
            output_subject=schemas.ENRICHED,
            build=build,
        ),
        settings,
    )


if __name__ == "__main__":
    main()
