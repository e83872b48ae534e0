"""The analyst stage: explains each enriched alert with an LLM or the embedded rules."""

from services.analyst._catalogue import Catalogue, load_catalogue
from services.analyst._rules import RulesAnalyst

__all__ = ["Catalogue", "RulesAnalyst", "load_catalogue"]
