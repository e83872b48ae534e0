"""Texts read as their vocabulary's words (``salient``): the phrases a matcher finds are those of the
whole text, so a storm's summaries that differ only by their subject's name are read once."""

from __future__ import annotations

import random

import pytest

from services.analyst import RulesAnalyst
from services.analyst._words import stem
from services.analyst._words import words_of as stemmed_words
from services.incidents import salient
from services.incidents._kinds import _SALIENT, alert_kind, verdicts, words_of
from tests.unit.incidents._alerts import enriched

# Words of no vocabulary, the kind a subject's name is made of.
OTHERS = ("node", "5", "12", "web", "on", "the", "ip", "10", "svc", "x")


def _texts(seed: int, vocabulary: list[str], count: int = 3000) -> list[tuple[str, ...]]:
    rnd = random.Random(seed)
    words = vocabulary + list(OTHERS)
    return [tuple(rnd.choice(words) for _ in range(rnd.randint(0, 12))) for _ in range(count)]


def test_a_storms_summaries_that_differ_by_their_subject_read_as_one() -> None:
    said = [salient(words_of(f"High CPU usage on node-{n}"), _SALIENT) for n in range(3)]
    assert said[0] == said[1] == said[2]
    kinds = {alert_kind(enriched("HighCPUUsage", summary=f"Node node-{n} is down").alert) for n in range(3)}
    assert len(kinds) == 1
    assert kinds.pop().unavailable


def test_a_phrase_is_not_read_across_a_word_it_does_not_have() -> None:
    # "slowing down" is no outage; with a name between its words, "down" is.
    assert not alert_kind(enriched("Checkout", summary="checkout slowing down").alert).unavailable
    assert alert_kind(enriched("Checkout", summary="checkout slowing web-3 down").alert).unavailable


@pytest.mark.parametrize("seed", range(3))
def test_what_an_alert_says_is_read_the_same_from_its_salient_words(seed: int) -> None:
    for words in _texts(seed, sorted(_SALIENT)):
        assert verdicts(salient(words, _SALIENT)) == verdicts(words), words


@pytest.mark.parametrize("field", ["summary", "description"])
def test_the_rules_clues_are_read_the_same_from_a_texts_salient_words(field: str) -> None:
    vocabulary = RulesAnalyst().signals.vocabulary
    known = vocabulary.known(field)
    for words in _texts(7, sorted(known)):
        assert vocabulary.clues(field, salient(words, known)) == vocabulary.clues(field, words), words


def test_numbers_are_read_as_they_are() -> None:
    assert stemmed_words("node-12 restarting 3 times") == ("node", "12", "restart", "3", "time")
    assert all(stem(number) == number for number in ("0", "5", "42", "9100", "٣"))
