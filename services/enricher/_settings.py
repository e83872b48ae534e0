"""The enricher's settings: its shared ones (``_shared_settings``) and every registered source's,
each declared in the source's module, read from the environment as one Struct."""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.enricher._shared_settings import SharedSettings
from services.enricher._sources import SOURCES, settings_type_of

if TYPE_CHECKING:
    # Typed code sees the shared part; a source reads its own, typed, with ``settings_type.of``.
    EnricherSettings = SharedSettings
else:
    EnricherSettings = settings_type_of(SOURCES)

__all__ = ["EnricherSettings", "SharedSettings"]
