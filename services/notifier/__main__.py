"""``python -m services.notifier``: deliver each analysis to Slack, webhooks, PagerDuty or Teams."""

from services.notifier._build import SPEC
from services.notifier._settings import NotifierSettings
from services.runtime import stage_main

if __name__ == "__main__":
    stage_main(SPEC, NotifierSettings, "Delivers each analysis once to Slack, webhooks, PagerDuty, Teams.")
