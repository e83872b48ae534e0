"""Stable placeholders for IPs, hostnames, e-mails, user names and (opt-in) Kubernetes names.

Within one analysis the same value always maps to the same placeholder (``<ip-1>``), so the
model can still reason about "the same host"; the answer gets the real values back. What counts
as an identifier is in _anonymize_kinds.py.

The prompt is JSON: ``scrub_json`` scrubs its decoded strings, so a log line's quotes and newlines
are seen as the log had them (not as ``\\"`` and ``\\n``), and a label's name says what its value
is (``instance`` holds a host, ``pod`` a pod). A name learnt once — from a label, ``user=bob`` —
is then replaced wherever else it occurs as a whole word.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import msgspec

import schemas
from services.analyst._anonymize_kinds import is_ip, label_kind, scrub_identifiers
from services.analyst._settings import AnalystSettings

_PLACEHOLDER = re.compile(r"<(?:email|ip|host|user|pod|namespace|k8s|redacted)-\d+>")
_MIN_NAME = 3


class Anonymizer:
    """One per analysis: ``scrub``/``scrub_json`` before the call, ``restore`` on the answer."""

    def __init__(self, extra_patterns: Iterable[str] = (), k8s_names: bool = False) -> None:
        self._extra = [re.compile(text) for text in extra_patterns]
        self._k8s_names = k8s_names
        self._by_value: dict[str, str] = {}
        self._by_placeholder: dict[str, str] = {}
        self._counts: dict[str, int] = {}
        # Names with no shape of their own (users, Kubernetes objects, hosts from labels).
        self._names: set[str] = set()
        self._known: re.Pattern[str] | None = None
        self._known_size = 0

    def _name(self, kind: str, value: str) -> str:
        """A placeholder for a name found by its context, replaced wherever else it occurs too."""
        self._names.add(value)
        return self._placeholder(kind, value)

    def _placeholder(self, kind: str, value: str) -> str:
        if _PLACEHOLDER.fullmatch(value):
            return value
        if value not in self._by_value:
            self._counts[kind] = self._counts.get(kind, 0) + 1
            placeholder = f"<{kind}-{self._counts[kind]}>"
            self._by_value[value] = placeholder
            self._by_placeholder[placeholder] = value
        return self._by_value[value]

    def scrub(self, text: str) -> str:
        """``text`` with every identifier replaced by its placeholder."""
        return self._known_names(self._scrub_patterns(text))

    def _scrub_patterns(self, text: str) -> str:
        # Site patterns first: they are the most specific, and may contain dots or digits.
        for pattern in self._extra:
            text = pattern.sub(lambda m: self._placeholder("redacted", m.group(0)), text)
        return scrub_identifiers(text, self._placeholder, self._name, self._k8s_names)

    def scrub_json(self, text: str) -> str:
        """A JSON document with its string values scrubbed, rendered compactly; other text as ``scrub``."""
        try:
            document = json.loads(text)
        except ValueError:
            return self.scrub(text)
        self._learn_labels(document)
        first = self._walk(document, self._scrub_patterns)
        # A second pass, so a name learnt late in the document is replaced early in it too.
        scrubbed = self._walk(first, self._known_names)
        return json.dumps(scrubbed, ensure_ascii=False, separators=(",", ":"))

    def _learn_labels(self, node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                kind = label_kind(key, self._k8s_names) if isinstance(value, str) else None
                name = _label_name(value) if kind == "host" else value
                if kind and name and not _PLACEHOLDER.fullmatch(name):
                    self._names.add(name)
                    self._placeholder("ip" if is_ip(name) else kind, name)
                else:
                    self._learn_labels(value)
        elif isinstance(node, list):
            for item in node:
                self._learn_labels(item)

    def _walk(self, node: Any, scrub: Any) -> Any:
        if isinstance(node, str):
            return scrub(node)
        if isinstance(node, dict):
            return {key: self._walk(value, scrub) for key, value in node.items()}
        if isinstance(node, list):
            return [self._walk(item, scrub) for item in node]
        return node

    def _known_names(self, text: str) -> str:
        names = [name for name in self._names if len(name) >= _MIN_NAME]
        if not names:
            return text
        if self._known is None or self._known_size != len(names):
            alternatives = "|".join(re.escape(name) for name in sorted(names, key=len, reverse=True))
            self._known = re.compile(rf"(?<![\w.@-])(?:{alternatives})(?![\w-]|\.\w)")
            self._known_size = len(names)
        return self._known.sub(lambda m: self._by_value[m.group(0)], text)

    def replaced(self) -> dict[str, str]:
        """Each value replaced so far, with its placeholder."""
        return dict(self._by_value)

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


def anonymizer_for(settings: AnalystSettings) -> Anonymizer | None:
    """A fresh anonymiser for one analysis when LLM_ANONYMIZE is on; None when it is off."""
    if not settings.llm_anonymize:
        return None
    return Anonymizer(settings.llm_anonymize_patterns, k8s_names=settings.llm_anonymize_k8s_names)


def _label_name(value: str) -> str:
    """The host in a label's value: "db-1" of "db-1:9100", "shop.example.com" of "https://shop.example.com/x"."""
    if "://" in value:
        return urlsplit(value).hostname or ""
    host, _, port = value.rpartition(":")
    return host.strip("[]") if host and port.isdigit() else value
