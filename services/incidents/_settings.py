"""The settings of incidents: how alerts are grouped, how long an incident waits, lives and comes back."""

from __future__ import annotations

from typing import Annotated

from services.runtime import SettingsPart, doc


class IncidentSettings(SettingsPart, kw_only=True, frozen=True):
    incidents_enabled: Annotated[
        bool,
        doc(
            "Group related alerts into incidents: one analysis and one notification per incident "
            "(alerts.incidents.*); off = every alert on its own"
        ),
    ] = False
    incident_window_seconds: Annotated[
        float, doc("How close in time an alert must be to an incident's last member to join it")
    ] = 300.0
    incident_group_wait_seconds: Annotated[
        float, doc("How long a new incident gathers members before its first analysis and notification")
    ] = 5.0
    incident_review_defer_seconds: Annotated[
        float,
        doc(
            "While alerts queue for the analyst (a flood), how much longer a due incident analysis and "
            "notification waits for them to be placed; 0 = never"
        ),
    ] = 4.0
    incident_update_seconds: Annotated[
        float,
        doc(
            "How long an open incident gathers new members before one updated event "
            "(a new root, severity up or reopening is sent at once)"
        ),
    ] = 30.0
    incident_resolve_grace_seconds: Annotated[
        float, doc("How long every member must stay resolved before the incident resolves")
    ] = 120.0
    incident_reopen_seconds: Annotated[
        float, doc("A related alert within this long after resolution reopens the incident")
    ] = 1800.0
    incident_max_analyses: Annotated[
        int,
        doc(
            "LLM analyses per incident: the first, then one per material change (a new root, reopened) "
            "up to this many"
        ),
    ] = 2
    incident_topology_file: Annotated[
        str, doc("Optional YAML file of services, their dependencies and hosts (see docs/incidents.md)")
    ] = ""
    incident_key_label: Annotated[
        str, doc("Label that puts alerts in one incident whatever else they share")
    ] = "incident_key"
    incident_bucket: Annotated[
        str,
        doc(
            "Prefix of the incidents' log, the stream <bucket>-log (state and membership); the "
            "key-value bucket of that name holds exemplars written before they were read from ALERTS"
        ),
    ] = "aiops-incidents"
    incident_store_timeout_seconds: Annotated[
        float,
        doc(
            "Longest wait on the incident log and bucket per batch; beyond it alerts go on one by one "
            "(degraded) for a while, so an outage never blocks the pipeline"
        ),
    ] = 2.0
