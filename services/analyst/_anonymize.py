"""Stable placeholders for IPs, hostnames, e-mails and user patterns, restored in the answer.

Within one analysis the same value always maps to the same placeholder (``<ip-1>``), so the
model can still reason about "the same host"; nothing identifying leaves the process.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import msgspec

import schemas

# Suffixes of names that are hosts; dotted code names (java.lang.OutOfMemoryError) must survive.
_HOST_SUFFIXES = (
    "com|net|org|io|dev|cloud|internal|local|localdomain|lan|corp|intra|svc|cluster\\.local|"
    "example|test|co|de|fr|uk|eu|us|app|ai"
)
_KINDS: list[tuple[str, str]] = [
    ("email", r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"),
    ("ip", r"\b(?:\d{1,3}\.){3}\d{1,3}\b"),
    ("ip", r"\b(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}\b"),
    ("host", rf"\b(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{{0,61}}[a-zA-Z0-9])?\.)+(?:{_HOST_SUFFIXES})\b"),
]
_PLACEHOLDER = re.compile(r"<(?:email|ip|host|redacted)-\d+>")


class Anonymizer:
    """One per analysis: ``scrub`` before the call, ``restore`` on the answer."""

    def __init__(self, extra_patterns: Iterable[str] = ()) -> None:
        self._patterns = [(kind, re.compile(text)) for kind, text in _KINDS]
        self._patterns += [("redacted", re.compile(text)) for text in extra_patterns]
        self._by_value: dict[str, str] = {}
        self._by_placeholder: dict[str, str] = {}

    def _placeholder(self, kind: str, value: str) -> str:
        if value not in self._by_value:
            count = sum(1 for p in self._by_placeholder if p.startswith(f"<{kind}-")) + 1
            placeholder = f"<{kind}-{count}>"
            self._by_value[value] = placeholder
            self._by_placeholder[placeholder] = value
        return self._by_value[value]

    def scrub(self, text: str) -> str:
        # User patterns first: they are the most specific, and may contain dots or digits.
        for kind, compiled in [*self._patterns[len(_KINDS) :], *self._patterns[: len(_KINDS)]]:
            text = compiled.sub(lambda m, kind=kind: self._keep_or_replace(kind, m.group(0)), text)  # type: ignore[misc]
        return text

    def _keep_or_replace(self, kind: str, value: str) -> str:
        return value if _PLACEHOLDER.fullmatch(value) else self._placeholder(kind, value)

    def restore(self, text: str) -> str:
        return _PLACEHOLDER.sub(lambda m: self._by_placeholder.get(m.group(0), m.group(0)), text)

    def restore_analysis(self, analysis: schemas.Analysis) -> schemas.Analysis:
        return msgspec.structs.replace(
            analysis,
            summary=self.restore(analysis.summary),
            root_cause=self.restore(analysis.root_cause),
            evidence=[self.restore(line) for line in analysis.evidence],
            remediation=[self.restore(step) for step in analysis.remediation],
        )
