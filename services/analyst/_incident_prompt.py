"""An incident's prompt: the incident summarised and the evidence of a few of its alerts, in one budget.

The user part is JSON:

    incident   id, title, severity, scope, member and firing counts, members per alert name
    root       the alert that explains the others, and why the grouping says so
    members    a few examples per alert name, never the whole list: the counts carry the rest
    evidence   the root's and a few members' alert, metrics and logs (the alert prompt's context), root first
    dropped    what was left out to fit the budget, so a gap does not read as an absence

Over LLM_MAX_PROMPT_TOKENS, parts go least informative first: the alert prompt's cheap REDUCTIONS on
every exemplar, then member examples and the members' evidence, then the root's own evidence, step by
step. The root and the counts always stay: a 50,000-alert incident reads as long as a 5-alert one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import schemas
from services.analyst._prompt import (
    ANSWER_INSTRUCTIONS,
    MESSAGE_OVERHEAD_TOKENS,
    REDUCTIONS,
    Prompt,
    alert_context,
    estimate_tokens,
    render_context,
)

# Alert names listed with their counts; the others are summed into one line.
MAX_NAMES = 20
# Alert names kept when the budget is tight.
FEW_NAMES = 5
EXAMPLES_PER_NAME = 2
MAX_EXAMPLES = 20
# The first REDUCTIONS lose what a reader skips anyway (raw points, info logs, flat series...): every
# exemplar goes through them before the root's evidence loses anything more.
LIGHT_REDUCTIONS = 6
MAX_SUMMARY = 160

INCIDENT_SYSTEM_PROMPT = (
    """You are a site reliability engineer explaining one incident to the on-call person: alerts that fired
together and were grouped because one cause explains them. You receive the incident (where it happens and how
many alerts of each name it holds), its root alert (the alert the grouping found to explain the others, and
why), examples of the other members, and the evidence (rule expressions, metric series summaries, log
templates) of the root and of a few members. Answer with one JSON object about the incident as a whole and
nothing else:

"""
    + ANSWER_INSTRUCTIONS
    + """- root_cause names the root alert's objects (its node, pod, service, dependency or host) and how that
  explains the other members; if the evidence contradicts the grouping, say so.
- summary says what is wrong, where, and how many alerts it accounts for.
"""
)

Step = Callable[[dict[str, Any]], str | None]


def _unchanged(text: str) -> str:
    return text


def why_root(incident: schemas.Incident) -> str:
    """Why the root is the root, from what the grouping recorded of the listed members."""
    root = incident.root
    if root is None:
        return "no member was found to explain the others; the first alert stands in for the root"
    listed = [m for m in incident.members if m.alert_id != root.alert_id]
    caused = [m for m in listed if m.role == "caused"]
    if caused:
        signals = Counter(s for m in caused for s in m.signals if s != "time")
        via = ", ".join(f"{n} by {signal}" for signal, n in signals.most_common(4))
        reason = f"{len(caused)} of the {len(listed)} listed members are explained by it"
        reason += f" ({via})" if via else ""
    else:
        reason = "the grouping chose it as the root; no listed member is marked as caused by it"
    if incident.members and root.starts_at <= min(m.starts_at for m in incident.members):
        reason += "; it started first"
    return reason


def ranked_names(alertnames: dict[str, int]) -> list[tuple[str, int]]:
    """Alert names, most members first (ties by name, so the prompt is the same for the same incident)."""
    return sorted(alertnames.items(), key=lambda item: (-item[1], item[0]))


def _names(alertnames: dict[str, int], keep: int) -> dict[str, Any]:
    ranked = ranked_names(alertnames)
    shown: dict[str, Any] = {"by_alertname": dict(ranked[:keep])}
    rest = ranked[keep:]
    if rest:
        shown["other_alertnames"] = {"names": len(rest), "members": sum(n for _, n in rest)}
    return shown


def _member(member: schemas.IncidentMember) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "alertname": member.alertname,
        "status": member.status,
        "labels": member.labels,
        "role": member.role,
    }
    if member.signals:
        shown["signals"] = member.signals
    if member.summary:
        shown["summary"] = member.summary[:MAX_SUMMARY]
    return shown


def _examples(incident: schemas.Incident, per_name: int) -> list[dict[str, Any]]:
    root_id = incident.root.alert_id if incident.root else ""
    by_name: dict[str, list[schemas.IncidentMember]] = {}
    for member in incident.members:
        if member.alert_id != root_id:
            by_name.setdefault(member.alertname, []).append(member)
    order = {name: rank for rank, (name, _) in enumerate(ranked_names(incident.alertnames))}
    names = sorted(by_name, key=lambda name: (order.get(name, len(order)), name))
    chosen = [member for name in names for member in by_name[name][:per_name]]
    return [_member(member) for member in chosen[:MAX_EXAMPLES]]


def incident_context(
    incident: schemas.Incident, root: schemas.EnrichedAlert, others: list[schemas.EnrichedAlert]
) -> dict[str, Any]:
    listed = _examples(incident, EXAMPLES_PER_NAME)
    head: dict[str, Any] = {
        "id": incident.id,
        "status": incident.status,
        "title": incident.title,
        "severity": incident.severity,
        "scope": incident.scope,
        "opened_at": incident.opened_at.isoformat(),
        "member_count": incident.member_count,
        "firing_count": incident.firing_count,
        **_names(incident.alertnames, MAX_NAMES),
    }
    alert = root.alert
    evidence = [{"role": "root", **alert_context(root)}] + [
        {"role": "member", **alert_context(other)} for other in others
    ]
    for entry in evidence:
        entry.pop("dropped", None)  # one list of what was dropped, the incident's
    return {
        "incident": head,
        "root": {
            "alertname": alert.labels.get("alertname", ""),
            "labels": alert.labels,
            "startsAt": alert.starts_at.isoformat(),
            "why": why_root(incident),
        },
        "members": listed,
        "members_not_listed": max(0, incident.member_count - 1 - len(listed)),
        "evidence": evidence,
        "dropped": [],
    }


def _evidence(roles: tuple[str, ...], reduce: Callable[[dict[str, Any]], str], note: str = "") -> Step:
    def step(context: dict[str, Any]) -> str | None:
        said = [reduce(entry) for entry in context["evidence"] if entry["role"] in roles]
        return f"{said[0]}{note}" if said else None

    return step


def _fewer_examples(keep: int) -> Step:
    def step(context: dict[str, Any]) -> str | None:
        seen: set[str] = set()
        kept: list[dict[str, Any]] = []
        for member in context["members"]:
            if member["alertname"] not in seen and len(kept) < keep:
                seen.add(member["alertname"])
                kept.append(member)
        if len(kept) == len(context["members"]):
            return None
        context["members_not_listed"] += len(context["members"]) - len(kept)
        context["members"] = kept
        return f"member examples beyond {keep}, one per alert name"

    return step


def _drop_member_evidence(context: dict[str, Any]) -> str | None:
    members = [entry for entry in context["evidence"] if entry["role"] == "member"]
    for entry in members:
        entry["metrics"], entry["logs"] = [], {"templates": []}
    return "the other members' metric and log evidence" if members else None


def _drop_member_alerts(context: dict[str, Any]) -> str | None:
    before = len(context["evidence"])
    context["evidence"] = [entry for entry in context["evidence"] if entry["role"] == "root"]
    return "the other members' alerts" if len(context["evidence"]) < before else None


def _drop_examples(context: dict[str, Any]) -> str | None:
    if not context["members"]:
        return None
    context["members_not_listed"] += len(context["members"])
    context["members"] = []
    return "member examples (the counts per alert name stay)"


def _fewer_names(keep: int) -> Step:
    def step(context: dict[str, Any]) -> str | None:
        head = context["incident"]
        ranked = ranked_names(head["by_alertname"])
        if len(ranked) <= keep:
            return None
        moved = ranked[keep:]
        other = head.setdefault("other_alertnames", {"names": 0, "members": 0})
        other["names"] += len(moved)
        other["members"] += sum(n for _, n in moved)
        head["by_alertname"] = dict(ranked[:keep])
        return f"alert names beyond the {keep} with most members (their members stay counted)"

    return step


def _steps() -> list[Step]:
    light, heavy = REDUCTIONS[:LIGHT_REDUCTIONS], REDUCTIONS[LIGHT_REDUCTIONS:]
    every = [_evidence(("root", "member"), reduce) for reduce in light]
    members = [_fewer_examples(MAX_EXAMPLES // 2), _drop_member_evidence, _drop_member_alerts]
    fewer = [_fewer_examples(FEW_NAMES), _fewer_names(MAX_NAMES // 2)]
    root = [_evidence(("root",), reduce, " (root)") for reduce in heavy]
    return [*every, *members, *fewer, *root, _drop_examples, _fewer_names(FEW_NAMES)]


# Least informative first.
STEPS: list[Step] = _steps()


def build_incident_prompt(
    incident: schemas.Incident,
    root: schemas.EnrichedAlert,
    others: list[schemas.EnrichedAlert],
    budget: int,
    scrub: Callable[[str], str] = _unchanged,
) -> Prompt:
    """System and user messages for one incident that fit ``budget`` tokens (estimated)."""
    context = incident_context(incident, root, others)
    fixed = estimate_tokens(INCIDENT_SYSTEM_PROMPT) + 2 * MESSAGE_OVERHEAD_TOKENS
    user = render_context(context)
    for step in STEPS:
        if fixed + estimate_tokens(user) <= budget:
            break
        said = step(context)
        if said is not None:
            context["dropped"].append(said)
            user = render_context(context)
    user = scrub(user)
    return Prompt(
        messages=[{"role": "system", "content": INCIDENT_SYSTEM_PROMPT}, {"role": "user", "content": user}],
        estimated_tokens=fixed + estimate_tokens(user),
        dropped=list(context["dropped"]),
    )
