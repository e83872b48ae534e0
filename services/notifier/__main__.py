"""``python -m services.notifier``: deliver each analysis to the configured destinations.

A misconfigured destination stops the service with its setting named: before it
connects to NATS when the settings alone show it, at start-up when the
destination itself refuses (a bad token, an unknown project).
"""

import sys

from services.notifier._build import SPEC, router_from
from services.notifier._settings import NotifierSettings
from services.runtime import ConfigError, load_or_exit, run_stage

PROGRAM = "python -m services.notifier"
SUMMARY = "Delivers each analysis once to Slack, webhooks, PagerDuty, Teams, Opsgenie, Jira."


def main() -> None:
    settings = load_or_exit(NotifierSettings, sys.argv[1:], PROGRAM, SUMMARY)
    try:
        router_from(settings)
        run_stage(SPEC, settings)
    except ConfigError as exc:
        print(f"{PROGRAM}: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc


if __name__ == "__main__":
    main()
