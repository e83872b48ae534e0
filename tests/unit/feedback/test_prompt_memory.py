"""Similar past incidents in the LLM prompt: within their share of the budget, dropped last."""

from __future__ import annotations

import json

from services.analyst._prompt import MEMORY_SHARE, build_prompt, estimate_tokens
from services.analyst.eval import DEFAULT_DIR
from services.analyst.eval._scenarios import load_scenario

MESSAGE = load_scenario(DEFAULT_DIR / "01-crashloop-oom-java.yaml").message


def item(n: int) -> dict[str, object]:
    return {
        "when": "2026-11-20",
        "alert": "KubePodCrashLooping",
        "judged": "confirmed by a person",
        "category": "memory_pressure",
        "cause": f"heap leak number {n} " + "x" * 200,
    }


def user_context(budget: int, similar: list[dict[str, object]]) -> tuple[dict[str, object], list[str]]:
    prompt = build_prompt(MESSAGE, budget, similar=similar)
    assert prompt.estimated_tokens <= budget
    return json.loads(prompt.messages[1]["content"]), prompt.dropped


def test_past_incidents_are_given_under_their_own_key_with_how_to_read_them() -> None:
    context, dropped = user_context(6000, [item(1), item(2)])
    memory = context["similar_past"]
    assert isinstance(memory, dict)
    assert [i["cause"][:17] for i in memory["incidents"]] == ["heap leak number ", "heap leak number "]
    assert "confirmed or corrected by a person" in memory["note"]
    assert dropped == []


def test_they_take_at_most_their_share_of_the_budget_most_relevant_kept() -> None:
    budget = 3000
    context, _ = user_context(budget, [item(n) for n in range(10)])
    kept = context["similar_past"]["incidents"]  # type: ignore[index]
    assert 0 < len(kept) < 10
    assert kept[0]["cause"].startswith("heap leak number 0")
    assert estimate_tokens(json.dumps({"similar_past": kept}, separators=(",", ":"))) <= budget * MEMORY_SHARE


def test_without_memory_the_prompt_is_as_before() -> None:
    assert build_prompt(MESSAGE, 6000).messages == build_prompt(MESSAGE, 6000, similar=[]).messages


def test_when_nothing_else_is_left_to_drop_memory_goes_too() -> None:
    # Room for the system part and the alert with every piece of evidence dropped, no more.
    bare = build_prompt(MESSAGE, 1).estimated_tokens
    context, dropped = user_context(bare + 20, [item(1)])
    assert "similar_past" not in context
    assert dropped[-1] == "similar past incidents"
