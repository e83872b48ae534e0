"""``python -m services.enricher``: alerts.raw → metric and log evidence → alerts.enriched."""

from services.enricher._build import SPEC
from services.enricher._settings import EnricherSettings
from services.runtime import stage_main

if __name__ == "__main__":
    stage_main(SPEC, EnricherSettings, "Adds metrics and logs around each alert, summarised.")
