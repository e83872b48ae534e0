"""The literal prefilters may let a non-match through, never stop a match."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.analyst import load_catalogue
from services.analyst._literals import block_literals, may_match, pattern_literals


def catalogue_text_patterns() -> list[str]:
    found: set[str] = set()
    for rule in load_catalogue().rules:
        for block in (*rule.when, *rule.unless, *rule.corroborate):
            found.update(block.text + block.logs)
    return sorted(found)


PATTERNS = catalogue_text_patterns()
ASCII = st.characters(min_codepoint=32, max_codepoint=126)


@pytest.mark.parametrize(
    ("pattern", "literals"),
    [
        ("dial tcp .*: connection refused", {": connection refused"}),
        ("Out of memory: Kill(ed)? process", {"out of memory: kill"}),
        (r"java\.lang\.OutOfMemoryError", {"java.lang.outofmemoryerror"}),
        ("(?:ENOSPC|no space left)", {"enospc", "no space left"}),
        ("x509: .*expired", {"expired"}),
        ("(timeout)+ waiting", {" waiting"}),
        ("[Ee]rror", {"rror"}),
    ],
)
def test_literals_read_from_a_pattern(pattern: str, literals: set[str]) -> None:
    assert pattern_literals(pattern) == frozenset(literals)


@pytest.mark.parametrize("pattern", ["a|bcd", ".*", r"\d+", "(xyz)?", "[Ee]r", "timeout|x"])
def test_a_pattern_without_a_certain_literal_is_never_prefiltered(pattern: str) -> None:
    assert pattern_literals(pattern) is None
    assert block_literals(("certain literal", pattern)) is None
    assert may_match(None, "anything at all")


def test_every_catalogue_signature_gets_a_prefilter() -> None:
    """Not required for correctness; without it a rule quietly costs its full search again."""
    assert PATTERNS
    assert [p for p in PATTERNS if pattern_literals(p) is None] == []


@settings(max_examples=40, deadline=None)
@given(data=st.data(), index=st.integers(min_value=0, max_value=len(PATTERNS) - 1))
def test_text_a_signature_matches_always_passes_its_prefilter(data: st.DataObject, index: int) -> None:
    pattern = PATTERNS[index]
    compiled = re.compile(pattern, re.IGNORECASE)
    matched = data.draw(st.from_regex(compiled, alphabet=ASCII))
    around = data.draw(st.text(ASCII, max_size=20)), data.draw(st.text(ASCII, max_size=20))
    text = f"{around[0]}\n{matched}\n{around[1]}"
    if not compiled.search(text):  # what surrounds it can break a \b or a lookaround
        text = matched
    assert compiled.search(text)
    assert may_match(pattern_literals(pattern), text.lower())
    assert may_match(block_literals((pattern, *PATTERNS[:3])), text.lower())


def test_non_ascii_text_is_always_searched_in_full() -> None:
    # The long s matches "s" case-insensitively but does not lower-case to it.
    assert re.search("segfault", "\u017fEGFAULT", re.IGNORECASE)
    assert "segfault" not in "\u017fEGFAULT".lower()
    assert may_match(frozenset({"segfault"}), None)
