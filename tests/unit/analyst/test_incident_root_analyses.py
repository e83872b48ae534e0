"""An incident's review reuses its root's own rules answer, and only for the very message it was made for
(the one the alerts' stream keeps at the root's sequence)."""

from __future__ import annotations

import msgspec
from prometheus_client import CollectorRegistry

import schemas
from services.analyst import AnalystMetrics, RulesAnalyst
from services.analyst._incident_analysis import IncidentAnalyst
from services.analyst._root_analyses import RootAnalyses
from tests.unit.analyst.test_incident_prompt import storm

RULES = RulesAnalyst()


def _with_other_evidence(message: schemas.EnrichedAlert) -> schemas.EnrichedAlert:
    """The same alert (same id), enriched again with other evidence."""
    return msgspec.structs.replace(message, enriched_at=message.enriched_at.replace(microsecond=1))


def _analysed_root(sequence: int) -> tuple[RootAnalyses, schemas.EnrichedAlert, schemas.Analysis]:
    """A storm's root placed (kept by the stream at ``sequence``) and analysed in this process."""
    _, exemplars = storm(5)
    root = exemplars[0]
    roots = RootAnalyses()
    roots.expect("inc-1", root, sequence)
    answer = RULES.analyze(root)
    roots.analysed(root, answer)
    return roots, root, answer


def test_an_answer_is_found_for_the_stream_message_it_was_made_for_and_for_no_other() -> None:
    roots, root, answer = _analysed_root(41)

    assert roots.find(41) == answer
    assert roots.find(42) is None  # another message of the stream, a re-send of the root included
    assert roots.find(0) is None  # a slot the version before copied to the bucket
    # Its message is not kept: a review reads it back from the stream, and finds the answer above.
    assert roots.root("inc-1", schemas.episode_key(root.alert)) is None


def test_a_one_alert_incidents_answer_is_its_roots_only_when_that_root_is_the_alert_named() -> None:
    roots, root, answer = _analysed_root(41)
    episode = schemas.episode_key(root.alert)

    assert roots.answer("inc-1", episode, root.id) == answer
    assert roots.answer("inc-1", episode, "another-alert") is None  # its root is not the message kept
    assert roots.answer("inc-2", episode, root.id) is None  # another incident


def test_an_answer_for_another_copy_of_the_root_is_not_kept() -> None:
    _, exemplars = storm(5)
    root = exemplars[0]
    copy = _with_other_evidence(root)  # a re-send in the same batch, analysed on its own
    roots = RootAnalyses()
    roots.expect("inc-1", root, 41)
    roots.analysed(copy, RULES.analyze(copy))

    assert roots.find(41) is None
    assert roots.root("inc-1", schemas.episode_key(root.alert)) is None


def test_the_oldest_answers_are_forgotten_past_the_limit() -> None:
    _, exemplars = storm(5)
    roots = RootAnalyses(limit=2)
    for sequence, message in enumerate(exemplars[:3], start=1):
        roots.expect("inc-1", message, sequence)
        roots.analysed(message, RULES.analyze(message))

    assert roots.find(1) is None
    assert roots.find(3) is not None


def test_a_root_whose_place_in_the_stream_is_not_known_is_kept_whole_for_its_incident() -> None:
    roots, root, answer = _analysed_root(0)

    # Nothing could read it back: its incident's review takes it as this process placed it.
    assert roots.root("inc-1", schemas.episode_key(root.alert)) == (root, answer)
    assert roots.root("inc-2", schemas.episode_key(root.alert)) is None
    assert roots.find(0) is None


async def test_a_review_given_the_roots_answer_says_what_running_the_rules_says() -> None:
    incident, exemplars = storm(50)
    analyst = IncidentAnalyst(RULES, AnalystMetrics(CollectorRegistry()))
    fresh = await analyst.analyze(incident, exemplars, use_llm=False)
    known = [(exemplars[0], RULES.analyze(exemplars[0]))]

    assert await analyst.analyze(incident, exemplars, use_llm=False, known=known) == fresh
    # The answer given is the one used: the root's rules are not run again.
    marked = msgspec.structs.replace(known[0][1], summary="kept answer")
    reused = await analyst.analyze(incident, exemplars, use_llm=False, known=[(exemplars[0], marked)])
    assert reused.summary.startswith("kept answer; explains 49 other alerts")
