"""One analysis per incident: the LLM once over the whole incident, or the rules, incident-aware.

    analyze(incident, exemplars, use_llm=True)   one LLM call (_incident_prompt's prompt) through the
        alert analyst's client, retries, breaker, daily budget, anonymiser and repair round; its
        root_cause names the root alert. When the LLM fails, the rules answer, marked degraded.
    analyze(..., use_llm=False), or no LLM        the rules: the root exemplar's analysis, saying it
        explains the other N members, by alert name, with members named in the evidence.

``exemplars`` are the enriched messages of the root and of a few members (services.incidents keeps
them); when the root's is missing, the root member stands in, so bad state never stops an analysis.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import msgspec

import schemas
from services.analyst._incident_prompt import build_incident_prompt, ranked_names
from services.analyst._llm import LlmAnalyst
from services.analyst._metrics import AnalystMetrics
from services.analyst._rules import RulesAnalyst, with_safe_evidence
from services.analyst._view import TARGET_LABELS, UNNAMED_TARGET, view_of

# Alert names spelt out in a summary; the others are counted.
NAMES_IN_TEXT = 5
# Members named in the rules' evidence.
MEMBER_LINES = 5
# Labels that say where a member is, in the order a reader looks for them.
PLACE_LABELS = ("namespace", "pod", "node", "instance", "service", "job", "host")


def _from_member(member: schemas.IncidentMember) -> schemas.EnrichedAlert:
    """An alert built from what the incident recorded of a member, when its message is not kept."""
    labels = {**member.labels, "alertname": member.alertname}
    if member.severity:
        labels.setdefault("severity", member.severity)
    alert = schemas.Alert(
        status=member.status,
        labels=labels,
        annotations={"summary": member.summary} if member.summary else {},
        starts_at=member.starts_at,
        ends_at=member.ends_at,
    )
    at = member.starts_at
    return schemas.EnrichedAlert(id=member.alert_id, alert=alert, received_at=at, enriched_at=at)


def _same_alert(message: schemas.EnrichedAlert, member: schemas.IncidentMember) -> bool:
    labels = message.alert.labels
    return labels.get("alertname") == member.alertname and all(
        labels.get(key) == value for key, value in member.labels.items()
    )


def root_exemplar(
    incident: schemas.Incident, exemplars: list[schemas.EnrichedAlert]
) -> tuple[schemas.EnrichedAlert, list[schemas.EnrichedAlert]]:
    """The root's message and the others'."""
    root = incident.root
    if root is None:
        if exemplars:
            return exemplars[0], exemplars[1:]
        first = incident.members[0] if incident.members else None
        stand_in = first or schemas.IncidentMember(
            alert_id=incident.id,
            alertname=incident.title or "incident",
            status="firing",
            severity=incident.severity,
            starts_at=incident.opened_at,
            labels=incident.scope,
        )
        return _from_member(stand_in), []
    # Its firing message by id, else one of the same episode (the resolution has another id).
    found = next((m for m in exemplars if m.id == root.alert_id), None)
    found = found or next((m for m in exemplars if _same_alert(m, root)), None)
    if found is None:
        return _from_member(root), list(exemplars)
    return found, [m for m in exemplars if m is not found]


def explained(incident: schemas.Incident, root_name: str) -> tuple[int, str]:
    """How many other alerts the root explains, and which: "40 KubePodNotReady, 6 TargetDown and 3 more"."""
    others = max(0, incident.member_count - 1)
    counts = dict(incident.alertnames)
    if counts.get(root_name, 0) > 0:
        counts[root_name] -= 1
    ranked = [(name, n) for name, n in ranked_names(counts) if n > 0]
    shown = ", ".join(f"{n} {name}" for name, n in ranked[:NAMES_IN_TEXT])
    rest = sum(n for _, n in ranked[NAMES_IN_TEXT:])
    return others, f"{shown} and {rest} more" if rest else shown


def _place(member: schemas.IncidentMember) -> str:
    found = [f"{key}={member.labels[key]}" for key in PLACE_LABELS if member.labels.get(key)]
    return " ".join(found[:3])


def _member_lines(incident: schemas.Incident) -> list[str]:
    """A few members, one of each alert name first: who the root explains."""
    root_id = incident.root.alert_id if incident.root else ""
    members = [m for m in incident.members if m.alert_id != root_id]
    first_of_name: dict[str, schemas.IncidentMember] = {}
    for member in members:
        first_of_name.setdefault(member.alertname, member)
    chosen = list(first_of_name.values())
    chosen += [m for m in members if m not in chosen]
    lines = []
    for member in chosen[:MEMBER_LINES]:
        why = f" by {', '.join(member.signals)}" if member.signals else ""
        named = " ".join(part for part in (member.alertname, _place(member)) if part)
        lines.append(f"member {named} ({member.role}{why})")
    return lines


def _called(root: schemas.EnrichedAlert) -> str:
    """The root as a reader names it: "KubeNodeNotReady on ip-10-0-1-7"."""
    alertname = root.alert.labels.get("alertname", "") or "the root alert"
    target = view_of(root).variables()["target"]
    return f"{alertname} on {target}" if target not in (alertname, UNNAMED_TARGET) else alertname


def _alerts(n: int) -> str:
    return "alert" if n == 1 else "alerts"


class IncidentAnalyst:
    def __init__(
        self,
        rules: RulesAnalyst,
        metrics: AnalystMetrics,
        llm: LlmAnalyst | None = None,
        max_prompt_tokens: int | None = None,
    ) -> None:
        self.rules = rules
        self.metrics = metrics
        self.llm = llm
        # The incident's prompt has the alert prompt's budget unless told otherwise.
        self.max_prompt_tokens = max_prompt_tokens or (llm.settings.llm_max_prompt_tokens if llm else 0)

    async def analyze(
        self,
        incident: schemas.Incident,
        exemplars: list[schemas.EnrichedAlert],
        *,
        use_llm: bool,
        known: Sequence[tuple[schemas.EnrichedAlert, schemas.Analysis]] = (),
    ) -> schemas.Analysis:
        """``known``: the rules' answers already made for some of the ``exemplars`` (the root's, when
        it was analysed as an alert in this process), used instead of running the rules again."""
        root, others = root_exemplar(incident, exemplars)
        llm = self.llm_for(use_llm=use_llm)
        if llm is None:
            own = next((analysis for message, analysis in known if message is root), None)
            analysis = self.explain_by_rules(incident, root, own)
        else:
            budget = self.max_prompt_tokens
            analysis = await llm.explain(
                lambda scrub: build_incident_prompt(incident, root, others, budget, scrub),
                lambda: self.explain_by_rules(incident, root),
            )
            if analysis.analyzer == "llm":
                analysis = _naming_the_root(analysis, root)
        return self._metered(analysis)

    def llm_for(self, *, use_llm: bool) -> LlmAnalyst | None:
        """The LLM ``analyze`` asks; None when it answers by the rules (not asked for the LLM, or
        none configured)."""
        return self.llm if use_llm else None

    def lone_root(self, own: schemas.Analysis) -> schemas.Analysis:
        """The analysis by the rules of an incident of one alert, its root, whose own rules answer is
        ``own``: that answer, as ``analyze`` with it known gives (there is no other member to explain)."""
        return self._metered(own)

    def _metered(self, analysis: schemas.Analysis) -> schemas.Analysis:
        """``analysis`` as the incident publishes it (its evidence made safe, whichever analyst wrote it),
        counted among the incidents' analyses by analyzer and degradation."""
        analysis = with_safe_evidence(analysis)
        self.metrics.incident_analyses.labels(analysis.analyzer, str(analysis.degraded).lower()).inc()
        return analysis

    def explain_by_rules(
        self, incident: schemas.Incident, root: schemas.EnrichedAlert, own: schemas.Analysis | None = None
    ) -> schemas.Analysis:
        """The root's own rules analysis (``own``, when already made), widened to the incident it explains."""
        base = own or self.rules.analyze(root)
        root_name = root.alert.labels.get("alertname", "") or incident.title
        others, names = explained(incident, root_name)
        if others == 0:
            return base
        which = f" ({names})" if names else ""
        grouped = sorted({s for m in incident.members for s in m.signals if s != "time"})
        by = f", grouped by {', '.join(grouped)}" if grouped else ""
        counts = ", ".join(f"{n} {name}" for name, n in ranked_names(incident.alertnames)[:NAMES_IN_TEXT])
        return msgspec.structs.replace(
            base,
            summary=f"{base.summary}; explains {others} other {_alerts(others)}{which}",
            root_cause=(
                f"{base.root_cause} The root alert, {_called(root)}, explains the incident's "
                f"{others} other {_alerts(others)}{which}{by}."
            ),
            evidence=[
                *base.evidence,
                f"incident {incident.id}: {incident.member_count} alerts, {incident.firing_count} firing"
                + (f" ({counts})" if counts else ""),
                *_member_lines(incident),
            ],
        )


def _object_names(root: schemas.EnrichedAlert) -> list[str]:
    """What names the root's objects: its target labels' values ("db-main:5432" also as "db-main");
    its alert name only when it has no such label."""
    labels = root.alert.labels
    values = [labels[key] for key in TARGET_LABELS if labels.get(key)]
    hosts = [value.rpartition(":")[0] for value in values if value.rpartition(":")[2].isdigit()]
    return values + hosts if values else [labels.get("alertname", "")]


def _naming_the_root(analysis: schemas.Analysis, root: schemas.EnrichedAlert) -> schemas.Analysis:
    """The answer's root_cause, made to name the root alert when the model's words did not."""
    names = [name for name in _object_names(root) if name]
    if not names:
        return analysis
    # Whole names only: "api" must not count as named inside "api-gateway".
    pattern = "|".join(re.escape(name) for name in sorted(names, key=len, reverse=True))
    if re.search(rf"(?<![\w.-])(?:{pattern})(?![\w-]|\.\w)", analysis.root_cause):
        return analysis
    return msgspec.structs.replace(
        analysis, root_cause=f"{analysis.root_cause} (root alert: {_called(root)})"
    )
