"""Narrowing the catalogue per alert (``_candidates``) leaves out only blocks that cannot hold."""

from __future__ import annotations

import msgspec

import schemas
from services.analyst import RulesAnalyst
from services.analyst._candidates import MAX_SCANNED_CHARS
from services.analyst._match import match
from services.analyst._view import AlertView, view_of
from services.analyst.eval import build_message, load_scenarios


def _message(annotations: dict[str, str], logs: list[str] | None = None) -> schemas.EnrichedAlert:
    labels = {"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "cart-1", "container": "cart"}
    return build_message(
        {
            "alert": {"labels": labels, "annotations": annotations, "startsAt": "2024-05-14T09:12:00Z"},
            "logs": [{"sample": line, "count": 3} for line in logs or []],
        }
    )


def _view(analyst: RulesAnalyst, message: schemas.EnrichedAlert) -> AlertView:
    return view_of(message, analyst.verdict(message).category)


def _holding(analyst: RulesAnalyst, view: AlertView) -> set[tuple[str, int]]:
    """Every (rule, block) of the whole catalogue that holds for the alert, found the slow way."""
    return {
        (rule.id, index)
        for rule in analyst.catalogue.rules
        for index, block in enumerate(rule.when)
        if match(block, view) is not None
    }


def _kept(analyst: RulesAnalyst, view: AlertView) -> set[tuple[str, int]]:
    return {
        (rule.id, next(i for i, b in enumerate(rule.when) if b is block))
        for rule, blocks in analyst.index.candidates(view)
        for block in blocks
    }


def test_a_short_annotation_naming_the_cause_still_decides_ascii_or_not() -> None:
    analyst = RulesAnalyst()
    for said in ("Container cart was OOMKilled", "Container cart was OOMKilled (Speicher erschöpft)"):
        message = _message({"description": said})
        assert len(_view(analyst, message).texts_joined) <= MAX_SCANNED_CHARS
        analysis = analyst.analyze(message)
        assert (analysis.category, analysis.model) == ("memory_pressure", "rules:oom-killed"), said


def test_every_block_that_holds_is_kept_for_short_and_long_texts() -> None:
    analyst = RulesAnalyst()
    messages = [s.message for s in load_scenarios()]
    # The same alerts with only their annotations: short texts, the path that looks literals up.
    messages += [msgspec.structs.replace(m, evidence=schemas.Evidence()) for m in messages]
    scanned = 0
    for message in messages:
        view = _view(analyst, message)
        scanned += len(view.texts_joined) <= MAX_SCANNED_CHARS
        missing = _holding(analyst, view) - _kept(analyst, view)
        assert not missing, (message.alert.labels.get("alertname"), sorted(missing))
    assert scanned >= 50


def test_alerts_of_one_name_with_other_words_get_their_own_answer() -> None:
    analyst = RulesAnalyst()
    first = analyst.analyze(_message({"description": "Container cart was OOMKilled"}))
    second = analyst.analyze(_message({"description": "environment variable DATABASE_URL is not set"}))
    third = analyst.analyze(_message({"description": "Container cart was OOMKilled"}))
    assert (first.category, second.category, third.category) == (
        "memory_pressure",
        "config_error",
        "memory_pressure",
    )
    assert first == third


def test_texts_that_differ_by_their_numbers_are_each_narrowed_by_their_own() -> None:
    """A storm's texts differ by their subjects' numbers and are scanned once for the literals without
    digits; a literal with digits ("429") is still looked up in each text as it is."""
    analyst = RulesAnalyst()
    answers = {}
    # The text without "429" first: what it found is then at hand when the same text with "429" comes.
    for said in (
        "upstream answered 430 to node-2",
        "upstream answered 429 to node-1",
        "upstream answered 429 to node-3",
        "upstream answered 4290 to node-4",
    ):
        view = _view(analyst, _message({"description": said}))
        missing = _holding(analyst, view) - _kept(analyst, view)
        assert not missing, (said, sorted(missing))
        answers[said] = analyst.analyze(_message({"description": said})).model
    assert answers["upstream answered 429 to node-1"] == answers["upstream answered 429 to node-3"]
    assert answers["upstream answered 429 to node-1"] == "rules:rate-limited"
    assert answers["upstream answered 430 to node-2"] != "rules:rate-limited"
    assert answers["upstream answered 4290 to node-4"] != "rules:rate-limited"
