"""Incidents: related alerts grouped across replicas, analysed once, notified once (docs/incidents.md).

A library the analyst uses; pure logic except ``_store`` (JetStream key-value).
"""

from services.incidents._settings import IncidentSettings

__all__ = ["IncidentSettings"]
