"""The analysis of an alert: its vocabulary of causes, and the one definition of its fields."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

Category = Literal[
    "cpu_saturation",
    "memory_pressure",
    "disk_capacity",
    "disk_io",
    "network",
    "availability",
    "crash_loop",
    "dependency_failure",
    "config_error",
    "deployment_regression",
    "certificate_expiry",
    "traffic_spike",
    "unknown",
]
CATEGORIES: tuple[Category, ...] = Category.__args__  # type: ignore[attr-defined]

Analyzer = Literal["llm", "rules"]


class Explanation(msgspec.Struct, kw_only=True, frozen=True):
    """What an analyzer says about an alert: cause, evidence for it, what to do next.

    The one definition of these fields: the LLM is asked for exactly them (its prompt's JSON shape,
    its repair round's key list and its response schema are made from this Struct), and each
    description is what the prompt tells the model to write there.
    """

    summary: Annotated[str, msgspec.Meta(description="one line: what is wrong, where")]
    root_cause: Annotated[
        str,
        msgspec.Meta(
            description=(
                "the cause, naming the specific objects (pod, host, dependency, setting) the evidence shows"
            )
        ),
    ]
    category: Annotated[Category, msgspec.Meta(description="one of the categories, naming the cause")]
    confidence: Annotated[float, msgspec.Meta(ge=0.0, le=1.0, description="number between 0 and 1")]
    evidence: Annotated[
        list[str],
        msgspec.Meta(
            description="each item quotes or names one metric value, trend or log template from the input"
        ),
    ] = []
    remediation: Annotated[
        list[str],
        msgspec.Meta(
            description="ordered next steps, with the concrete kubectl/shell command or PromQL query to run"
        ),
    ] = []


class Analysis(Explanation, kw_only=True, frozen=True):
    """The explanation of an alert, and how it was made."""

    analyzer: Analyzer
    model: str = ""
    degraded: bool = False
    # Why the LLM did not answer when degraded is true (never contains secrets).
    degraded_reason: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # True when this analysis was reused from an earlier message of the same episode.
    reused: bool = False
