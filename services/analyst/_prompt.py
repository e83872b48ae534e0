"""The prompt: a system part that sets the rules of the answer, a user part holding the evidence.

The user part is JSON. When it exceeds the token budget, context is dropped in a fixed order,
least informative first (raw points, info logs, flat series, ...), and the prompt says what was
dropped so the model does not mistake a gap for an absence.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

import schemas

CATEGORY_MEANINGS = {
    "cpu_saturation": "CPU demand at or above capacity or limit (runaway process, CFS throttling)",
    "memory_pressure": "memory exhausted or leaking, including OOM kills, also when seen as restarts",
    "disk_capacity": "a filesystem running out of space or inodes",
    "disk_io": "storage too slow or saturated",
    "network": "packet loss, interface errors, connectivity or DNS resolution failing",
    "availability": "a host, instance or target is down or unreachable, cause not visible beyond that",
    "crash_loop": "a process restarting repeatedly whose cause the evidence does not show",
    "dependency_failure": "a downstream (database, cache, queue, other service) failing or exhausted",
    "config_error": "wrong or missing configuration, secret or environment variable",
    "deployment_regression": "a new version or configuration rollout made things worse",
    "certificate_expiry": "a TLS certificate expired or about to, or its renewal failing",
    "traffic_spike": "load far above normal drives the symptom",
    "unknown": "nothing in the alert or the evidence points anywhere",
}

# What the model answers: the fields of schemas.Explanation, each with its description.
ANSWER_FIELDS: tuple[str, ...] = schemas.Explanation.__struct_fields__


def _placeholder(field: dict[str, Any]) -> str:
    told = f"<{field['description']}>"
    if field.get("type") == "array":
        return f'["{told}"]'
    return told if field.get("type") in ("number", "integer", "boolean") else f'"{told}"'


def answer_shape() -> str:
    """The JSON object the model is asked for, one line per field of ``schemas.Explanation``."""
    schema = msgspec.json.schema(schemas.Explanation)
    fields = schema["$defs"]["Explanation"]["properties"]
    return "{" + ",\n ".join(f'"{name}": {_placeholder(fields[name])}' for name in ANSWER_FIELDS) + "}"


# What the model answers and how, whatever it explains (one alert here, an incident in _incident_prompt.py).
ANSWER_INSTRUCTIONS = (
    answer_shape()
    + """

Categories name the CAUSE, not the symptom (a crash loop caused by OOM kills is memory_pressure;
a latency alert caused by an exhausted database pool is dependency_failure):
"""
    + "\n".join(f"- {name}: {meaning}" for name, meaning in CATEGORY_MEANINGS.items())
    + """

Rules:
- Every claim must rest on the input. Each evidence item cites what it rests on (metric name and
  values, or a log template and its count). Never invent metrics, logs, versions or hosts.
- If the evidence does not establish a cause, write "insufficient evidence" in root_cause, pick the
  symptom's own category (or unknown) and keep confidence at or below 0.4.
- Confidence is calibrated: about 0.9 when the evidence shows the cause directly, about 0.6 when it is
  the most plausible reading, 0.3 or less when it is a guess.
- Parts of the input may have been dropped to fit a budget; "dropped" lists them. Absence of dropped
  data is not evidence.
"""
)

SYSTEM_PROMPT = (
    """You are a site reliability engineer explaining one Prometheus alert to the on-call person.
You receive the alert, its rule expression, summaries of the metric series around the alert's start
and the log lines clustered into templates. Answer with one JSON object and nothing else:

"""
    + ANSWER_INSTRUCTIONS
)

REPAIR_PROMPT = (
    "Your answer could not be used: {error}. Answer again with only the JSON object, with exactly the "
    f"keys {', '.join(ANSWER_FIELDS)}; category one of: {{categories}}."
)

CHARS_PER_TOKEN = 3.5
# Per-message overhead of the chat format, as providers count it.
MESSAGE_OVERHEAD_TOKENS = 4


def estimate_tokens(text: str) -> int:
    """A provider-independent estimate; JSON with numbers tokenises at about 3.5 characters a token."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def alert_context(message: schemas.EnrichedAlert) -> dict[str, Any]:
    """One alert and its evidence as the prompt's JSON, the shape REDUCTIONS shrink."""
    alert = message.alert
    evidence = msgspec.to_builtins(message.evidence)
    return {
        "alert": {
            "status": alert.status,
            "labels": alert.labels,
            "annotations": {k: v for k, v in alert.annotations.items() if k != "runbook_url"},
            "startsAt": alert.starts_at.isoformat(),
            "expr": alert.rule_expression,
        },
        "metrics": evidence.get("metrics", []),
        "logs": evidence.get("logs") or {"templates": []},
        "enrichment_errors": evidence.get("errors", []),
        "dropped": [],
    }


def _series(context: dict[str, Any]) -> list[dict[str, Any]]:
    return [series for metric in context["metrics"] for series in metric.get("series", [])]


def _drop_points(context: dict[str, Any]) -> str:
    for series in _series(context):
        series.pop("points", None)
    return "raw series points"


def _drop_templates(severity: str, keep: int) -> Callable[[dict[str, Any]], str]:
    def step(context: dict[str, Any]) -> str:
        templates = context["logs"].get("templates", [])
        chosen = sorted((t for t in templates if t["severity"] == severity), key=lambda t: -t["count"])
        drop = {id(t) for t in chosen[keep:]}
        context["logs"]["templates"] = [t for t in templates if id(t) not in drop]
        return (
            f"{severity} log templates beyond the {keep} most frequent"
            if keep
            else f"{severity} log templates"
        )

    return step


def _trim_series(keep: int) -> Callable[[dict[str, Any]], str]:
    def step(context: dict[str, Any]) -> str:
        for metric in context["metrics"]:
            ranked = sorted(metric.get("series", []), key=lambda s: -abs(s.get("change_pct") or 0))
            metric["omitted_series"] = metric.get("omitted_series", 0) + max(0, len(ranked) - keep)
            metric["series"] = ranked[:keep]
        return f"series beyond the {keep} that changed most per query"

    return step


def _drop_flat_metrics(context: dict[str, Any]) -> str:
    def flat(metric: dict[str, Any]) -> bool:
        return all(
            not s.get("events") and abs(s.get("change_pct") or 0) < 10 for s in metric.get("series", [])
        )

    context["metrics"] = [m for m in context["metrics"] if not flat(m)]
    return "queries whose series stayed flat"


def _shorten_samples(context: dict[str, Any]) -> str:
    for template in context["logs"].get("templates", []):
        template["sample"] = template["sample"][:160]
        template["template"] = template["template"][:160]
    for key, value in context["alert"]["annotations"].items():
        context["alert"]["annotations"][key] = value[:300]
    return "the tail of long log lines and annotations"


def _keep_metrics(keep: int) -> Callable[[dict[str, Any]], str]:
    def step(context: dict[str, Any]) -> str:
        context["metrics"] = context["metrics"][:keep]
        return f"queries beyond the first {keep}"

    return step


def _drop_everything(context: dict[str, Any]) -> str:
    context["metrics"], context["logs"] = [], {"templates": []}
    return "all metric and log evidence"


# Least informative first: what a person would skip when reading in a hurry.
REDUCTIONS: list[Callable[[dict[str, Any]], str]] = [
    _drop_points,
    _drop_templates("info", 0),
    _trim_series(3),
    _drop_templates("warning", 5),
    _drop_flat_metrics,
    _shorten_samples,
    _drop_templates("error", 8),
    _trim_series(1),
    _keep_metrics(3),
    _drop_templates("warning", 0),
    _drop_templates("error", 3),
    _drop_everything,
]


class Prompt(msgspec.Struct, frozen=True):
    messages: list[dict[str, str]]
    estimated_tokens: int
    dropped: list[str]


def render_context(context: dict[str, Any]) -> str:
    return json.dumps(context, ensure_ascii=False, separators=(",", ":"), default=str)


# Similar past incidents (services/analyst/_memory.py) take at most this share of the budget, and
# go last when even the evidence's reductions are not enough: this alert's evidence decides.
MEMORY_SHARE = 0.15
MEMORY_NOTE = (
    "earlier alerts like this one and their causes: a cause confirmed or corrected by a person is strong"
    " prior evidence, the analyst's own unreviewed answer is weak; this alert's evidence decides"
)


def _add_memory(context: dict[str, Any], similar: Sequence[dict[str, Any]], budget: int) -> None:
    items = list(similar)
    while items and estimate_tokens(render_context({"similar_past": items})) > budget * MEMORY_SHARE:
        items.pop()
    if items:
        context["similar_past"] = {"note": MEMORY_NOTE, "incidents": items}


def build_prompt(
    message: schemas.EnrichedAlert,
    budget: int,
    scrub: Callable[[str], str] = lambda text: text,
    similar: Sequence[dict[str, Any]] = (),
) -> Prompt:
    """System and user messages that fit ``budget`` tokens (estimated), dropping context in order."""
    context = alert_context(message)
    _add_memory(context, similar, budget)
    fixed = estimate_tokens(SYSTEM_PROMPT) + 2 * MESSAGE_OVERHEAD_TOKENS
    user = render_context(context)
    for reduce in REDUCTIONS:
        if fixed + estimate_tokens(user) <= budget:
            break
        context["dropped"].append(reduce(context))
        user = render_context(context)
    if fixed + estimate_tokens(user) > budget and context.pop("similar_past", None):
        context["dropped"].append("similar past incidents")
        user = render_context(context)
    user = scrub(user)
    return Prompt(
        messages=[{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}],
        estimated_tokens=fixed + estimate_tokens(user),
        dropped=list(context["dropped"]),
    )
