"""``python -m services.analyst``: explains each enriched alert on alerts.analyzed."""

from services.analyst._build import SPEC
from services.analyst._settings import AnalystSettings
from services.runtime import stage_main

if __name__ == "__main__":
    stage_main(SPEC, AnalystSettings, "Explains each enriched alert: the LLM with LLM_API_KEY, else rules.")
