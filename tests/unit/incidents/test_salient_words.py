"""Texts read as their vocabulary's words (``salient``): the phrases a matcher finds are those of the
whole text, so a storm's summaries that differ only by their subject's name are read once."""

from __future__ import annotations

import random

import pytest

from services.analyst import RulesAnalyst
from services.analyst._words import stem
from services.analyst._words import words_of as stemmed_words
from services.incidents import NumbersAlike, lone_numbers, salient
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


# Pieces a text is written from: words, numbers standing alone or against a word, and the words with
# numbers in them that the vocabularies hold (5xx, 500s, x509, as each tokenizer splits it).
PIECES = ("704", "90", "0", "509", "5", "x509", "X509", "5xx", "5XX", "503s", "500s", "4xx", "95th", "ip10")
GLUE = (" ", " ", "-", "", ":", ".", "%", "\n")


def _written(seed: int, vocabulary: list[str], count: int = 3000) -> list[str]:
    rnd = random.Random(seed)
    words = vocabulary + list(PIECES) * 4 + list(OTHERS)
    texts = []
    for _ in range(count):
        chosen = [rnd.choice(words) for _ in range(rnd.randint(0, 10))]
        chosen = [word.capitalize() if rnd.random() < 0.2 else word for word in chosen]
        texts.append("".join(word + rnd.choice(GLUE) for word in chosen))
    return texts


@pytest.mark.parametrize("seed", range(3))
def test_a_text_with_its_lone_numbers_written_as_0_reads_as_the_text(seed: int) -> None:
    """What lets a storm's summaries (one per subject number) be read once: exact, not close."""
    numbers = lone_numbers(_SALIENT)
    for text in _written(seed, sorted(_SALIENT)):
        assert salient(words_of(numbers.sub("0", text)), _SALIENT) == salient(words_of(text), _SALIENT), text


@pytest.mark.parametrize("field", ["summary", "description"])
def test_the_rules_read_a_text_with_its_lone_numbers_written_as_0_as_the_text(field: str) -> None:
    vocabulary = RulesAnalyst().signals.vocabulary
    known = vocabulary.known(field)
    assert "509" in known  # x509, as the rules' words split it: a number that is a word
    numbers = vocabulary.lone_numbers[field]
    for text in _written(11, sorted(known)):
        words, written = stemmed_words(text), stemmed_words(numbers.zeroed(text))
        assert salient(written, known) == salient(words, known), text


def test_only_numbers_no_word_holds_are_written_alike() -> None:
    numbers = lone_numbers(frozenset({"509", "down"}))
    assert numbers.sub("0", "High CPU usage on node-704, 90% for 5m") == "High CPU usage on node-0, 0% for 5m"
    assert numbers.sub("0", "x509 expired; 509 or 5090 or 3509") == "x509 expired; 509 or 0 or 0"
    assert numbers.sub("0", "509 at the start, 509") == "509 at the start, 509"
    assert numbers.sub("0", "5xx 503s 5XX Pod0OOMKilled") == "5xx 503s 5XX Pod0OOMKilled"
    # x509 as one word, as the incidents' words take it: its number is part of it
    assert (
        lone_numbers(frozenset({"x509"})).sub("0", "x509: certificate expired") == "x509: certificate expired"
    )
    # a vocabulary holding 0 itself: no number may be written as it
    assert lone_numbers(frozenset({"0"})).sub("0", "node-704") == "node-704"


def test_a_rewrite_remembered_for_any_vocabulary_is_the_rewrite_of_each() -> None:
    """A text rewritten once with no number kept is taken by every vocabulary that keeps none of its
    numbers; one that keeps a number the text holds rewrites it its own way, memo or not."""
    vocabularies = [frozenset(), frozenset({"509", "down"}), frozenset({"53", "509"}), frozenset({"0"})]
    alike = [NumbersAlike(known) for known in vocabularies]
    texts = _written(5, ["down", "lookup", "x509"], count=2000)
    texts += ["lookup db on 10.96.0.10:53 failed", "509 at the start, 509", "node-704 ٥٣ down"]
    for text in texts * 2:  # the second time round, each is remembered
        for known, numbers in zip(vocabularies, alike, strict=True):
            assert numbers.zeroed(text) == lone_numbers(known).sub("0", text), (sorted(known), text)
