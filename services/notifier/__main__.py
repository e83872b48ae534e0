"""``python -m services.notifier``: deliver each analysis to Slack, webhooks, PagerDuty or Teams."""

from __future__ import annotations

import sys

import schemas
from services.notifier._build import build
from services.notifier._settings import NotifierSettings
from services.runtime import StageSpec, load_or_exit, run_stage

SPEC: StageSpec[schemas.AnalyzedAlert, NotifierSettings] = StageSpec(
    name="notifier",
    input_subject=schemas.ANALYZED,
    input_type=schemas.AnalyzedAlert,
    output_subject=None,
    build=build,
)


def main() -> None:
    settings = load_or_exit(
        NotifierSettings,
        sys.argv[1:],
        "python -m services.notifier",
        "Delivers each analyzed alert once to Slack, signed webhooks, PagerDuty and Teams, as routed.",
    )
    run_stage(SPEC, settings)


if __name__ == "__main__":
    main()
