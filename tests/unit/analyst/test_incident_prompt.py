"""An incident's prompt: the root named, the counts kept, the evidence merged within the token budget."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import schemas
from services.analyst._incident_analysis import root_exemplar
from services.analyst._incident_prompt import INCIDENT_SYSTEM_PROMPT, MAX_EXAMPLES, build_incident_prompt
from services.analyst._prompt import estimate_tokens
from services.analyst.eval import build_message

START = datetime(2024, 5, 14, 9, 12, tzinfo=UTC)
NODE = "ip-10-0-1-7"
# A node dies: its pods and scrape targets alert, and the services behind them, one latency alert each.
TAIL = [f"ServiceLatencyHigh{i:02d}" for i in range(39)]


def _member(name: str, i: int, role: schemas.MemberRole, signals: list[str]) -> schemas.IncidentMember:
    labels = {"cluster": "prod", "node": NODE}
    if name != "KubeNodeNotReady":
        labels |= {"namespace": "shop", "pod": f"checkout-{i}"}
    alert = schemas.Alert(status="firing", labels={"alertname": name, **labels}, starts_at=START)
    return schemas.IncidentMember(
        alert_id=schemas.alert_id(alert) if role == "root" else f"{name}-{i}",
        alertname=name,
        status="firing",
        severity="critical" if role == "root" else "warning",
        starts_at=START + timedelta(seconds=0 if role == "root" else 5 + i),
        labels=labels,
        summary=f"{name} on {labels.get('pod', NODE)}",
        role=role,
        signals=signals,
    )


def _message(
    name: str, labels: dict[str, str], logs: list[dict[str, Any]], series: int
) -> schemas.EnrichedAlert:
    points = [[START.timestamp() + j * 15, float(j % 7)] for j in range(60)]
    metrics = [
        {
            "name": f"{name.lower()}_signal",
            "query": f"up{{node='{NODE}'}}",
            "series": [
                {
                    "labels": {"pod": f"p-{k}"},
                    "min": 0,
                    "max": 1,
                    "last": 0,
                    "change_pct": 80 - k,
                    "points": points,
                }
                for k in range(series)
            ],
        }
    ]
    alert = {"labels": {"alertname": name, **labels}, "startsAt": START.isoformat()}
    return build_message({"alert": alert, "metrics": metrics, "logs": logs})


def storm(members: int = 500, heavy: bool = True) -> tuple[schemas.Incident, list[schemas.EnrichedAlert]]:
    """A node-down incident of ``members`` alerts (the root, then pods, targets and a tail of rare names),
    with the exemplars the incident store keeps: the root's and four other names'."""
    names = {"KubePodNotReady": members - 100, "TargetDown": 60, "KubeNodeNotReady": 1} | dict.fromkeys(
        TAIL, 1
    )
    root = _member("KubeNodeNotReady", 0, "root", [])
    # As the store lists them: by start time, the names interleaved as their alerts arrived.
    left = {name: count for name, count in names.items() if name != "KubeNodeNotReady"}
    arrival: list[str] = []
    while left and len(arrival) < schemas.MAX_LISTED_MEMBERS:
        arrival += list(left)
        left = {name: count - 1 for name, count in left.items() if count > 1}
    listed = [root] + [_member(name, i, "caused", ["node", "time"]) for i, name in enumerate(arrival)]
    incident = schemas.Incident(
        id="inc-0123456789ab",
        status="open",
        title=f"KubeNodeNotReady on {NODE}",
        severity="critical",
        opened_at=START,
        updated_at=START + timedelta(minutes=3),
        scope={"cluster": "prod", "node": NODE},
        root=root,
        members=listed[: schemas.MAX_LISTED_MEMBERS],
        member_count=members,
        firing_count=members,
        alertnames=names,
    )
    noise = [
        {"sample": f"info heartbeat {i} " + "x" * 200, "severity": "info", "count": i + 1} for i in range(30)
    ]
    root_logs = [
        {"sample": f"Kubelet stopped posting node status on {NODE}", "severity": "error", "count": 12}
    ]
    exemplars = [
        _message(
            "KubeNodeNotReady",
            {"cluster": "prod", "node": NODE},
            root_logs + (noise if heavy else []),
            20 if heavy else 1,
        )
    ] + [
        _message(
            name,
            {"cluster": "prod", "node": NODE, "pod": "checkout-1"},
            noise if heavy else [],
            20 if heavy else 1,
        )
        for name in ("KubePodNotReady", "TargetDown", "ServiceLatencyHigh00", "ServiceLatencyHigh01")
    ]
    # The stored message of the root is the one the incident names as its root.
    exemplars[0] = schemas.EnrichedAlert(**{**_fields(exemplars[0]), "id": root.alert_id})
    return incident, exemplars


def _fields(message: schemas.EnrichedAlert) -> dict[str, Any]:
    return {name: getattr(message, name) for name in message.__struct_fields__}


def _prompt(members: int, budget: int, heavy: bool = True) -> tuple[dict[str, Any], int, list[str]]:
    incident, exemplars = storm(members, heavy)
    root, others = root_exemplar(incident, exemplars)
    prompt = build_incident_prompt(incident, root, others, budget)
    assert prompt.messages[0]["content"] == INCIDENT_SYSTEM_PROMPT
    return json.loads(prompt.messages[1]["content"]), prompt.estimated_tokens, prompt.dropped


def test_a_500_member_incident_fits_the_budget_with_the_root_named_and_every_member_counted() -> None:
    for budget in (6000, 3000):
        user, tokens, dropped = _prompt(500, budget)
        assert tokens <= budget, (budget, tokens, dropped)
        assert user["root"]["alertname"] == "KubeNodeNotReady"
        assert user["root"]["labels"]["node"] == NODE
        assert user["root"]["why"].startswith("49 of the 49 listed members are explained by it (49 by node)")
        head = user["incident"]
        assert (head["member_count"], head["firing_count"]) == (500, 500)
        assert head["by_alertname"]["KubePodNotReady"] == 400
        counted = sum(head["by_alertname"].values()) + head.get("other_alertnames", {}).get("members", 0)
        assert counted == 500
        assert len(user["members"]) <= MAX_EXAMPLES
        assert len(user["members"]) + user["members_not_listed"] == 499
        assert user["evidence"][0]["role"] == "root"


def test_the_other_members_evidence_goes_before_the_roots() -> None:
    roomy, _, nothing = _prompt(500, 100_000)
    assert nothing == []
    assert [e["role"] for e in roomy["evidence"]] == ["root"] + ["member"] * 4
    assert len(roomy["members"]) == MAX_EXAMPLES

    user, _, dropped = _prompt(500, 3000)
    # What nobody reads goes from every alert's evidence; then the members' evidence, before the root's.
    assert dropped[:2] == ["raw series points", "info log templates"]
    assert "the other members' metric and log evidence" in dropped
    assert not [step for step in dropped if step.endswith("(root)")]
    assert [e["role"] for e in user["evidence"]] == ["root"] + ["member"] * 4
    root_logs = [t["sample"] for t in user["evidence"][0]["logs"]["templates"]]
    assert f"Kubelet stopped posting node status on {NODE}" in root_logs


def test_a_tight_budget_keeps_the_root_and_the_counts_of_the_biggest_names() -> None:
    user, tokens, dropped = _prompt(50_000, 1500)
    assert tokens <= 1500, dropped
    first_root_step = next(i for i, step in enumerate(dropped) if step.endswith("(root)"))
    assert dropped.index("the other members' alerts") < first_root_step
    assert user["root"]["labels"]["node"] == NODE
    head = user["incident"]
    assert head["member_count"] == 50_000
    assert head["by_alertname"]["KubePodNotReady"] == 49_900
    assert sum(head["by_alertname"].values()) + head["other_alertnames"]["members"] == 50_000
    assert head["other_alertnames"]["names"] == 42 - len(head["by_alertname"])


def test_a_small_incident_is_sent_whole() -> None:
    user, tokens, dropped = _prompt(120, 6000, heavy=False)
    assert dropped == []
    assert tokens < estimate_tokens(INCIDENT_SYSTEM_PROMPT) + 6000
    # Two examples per alert name, the most numerous names first, the root not among them.
    names = [m["alertname"] for m in user["members"]]
    assert names[:4] == ["TargetDown", "TargetDown", "KubePodNotReady", "KubePodNotReady"]
    assert "KubeNodeNotReady" not in names
