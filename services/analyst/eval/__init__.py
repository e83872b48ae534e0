"""``python -m services.analyst.eval``: how right the analysts are on labelled scenarios."""

from services.analyst.eval._scenarios import DEFAULT_DIR, Expected, Scenario, build_message, load_scenarios
from services.analyst.eval._score import Outcome, Report

__all__ = ["DEFAULT_DIR", "Expected", "Outcome", "Report", "Scenario", "build_message", "load_scenarios"]
