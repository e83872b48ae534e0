"""What an alert says about its subject: unavailable, failing, or neither; and what its subject is.

Read from the alert name, the rule's expression and the summary, as whole words ("PrometheusTooManyRestarts"
is not "oom"; "HaproxyHttpSlowingDown" slows down, it is not "down"). The word lists are general
vocabulary of monitoring rules, not the names of any particular rule set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Literal

import schemas

# CamelCase humps, all-caps runs (HTTP in HTTPErrors), numbers with a lower-case suffix (5xx, 500ms)
# or a status class's XX (5XX in HTTP5XXErrors; other capitals after a number start a word of their
# own: Pod0OOMKilled), and x509, which the humps would split.
_WORD = re.compile(r"[xX]509(?!\d)|[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+(?:XXs?(?![a-z])|[a-z]+)?")
# `up == 0`, `up{job="x"} == 0`, `sum by (job) (up) == 0`, `probe_success == 0`, `absent(up{...})`:
# the target is gone.
_TARGET_GONE = re.compile(
    r"\b(?:up|probe_success)\s*(?:\{[^}]*\})?\s*\)?\s*(?:==\s*0|<\s*(?:1|0?\.\d+))(?![.\d])|\babsent\s*\("
)

Verdict = Literal["unavailable", "failing", "neutral"]

# Longest phrase first; "neutral" phrases consume words that would otherwise read as a failure.
_PHRASES: dict[tuple[str, ...], Verdict] = {}
for _verdict, _texts in (
    (
        "unavailable",
        "down|unreachable|not ready|notready|unavailable|offline|dead|lost|unknown state|shutdown|"
        "shut down|absent|no route|not responding|unresponsive|partition|partitioned|network partition|"
        "split brain|evicted|node lost|heartbeat missed|not reachable|probe failed|target missing|"
        "targets missing|no leader",
    ),
    (
        "failing",
        "fail|fails|failing|failed|failure|failures|error|errors|errored|5xx|refused|timeout|timeouts|"
        "timed out|expired|full|no space|out of space|out of disk|disk full|pressure|latency|slow|"
        "crash|crashing|crashloop|crash loop|oom|oomkilled|unhealthy|degraded|saturated|exhausted|"
        "rejected|broken|invalid certificate|backlog|lag|lagging|overload|overloaded|throttled|"
        # "too many 503s", "HTTP 500s" count server error replies; "500s" alone may be seconds
        "throttling|replicas mismatch|5xxs|crashed|killed|corrupt|corrupted|"
        "corruption|corruptions|insufficient|not running|not connected|crashlooping|not healthy|"
        "not ingesting|evicting|eviction|stuck|"
        + "|".join(f"{before} {status}s" for status in range(500, 600) for before in ("many", "http")),
    ),
    (
        "neutral",
        "slowing down|scale down|scaled down|count down|going down soon|almost full|filling up|"
        "almost out of space|almost out of disk|will fill|predicted full",
    ),
):
    for _text in _texts.split("|"):
        _PHRASES[tuple(_text.split())] = _verdict  # type: ignore[assignment]
# A phrase starts with one of these words, and has one of its sizes (longest first): any other word
# starts none, no lookup needed.
_LENGTHS: dict[str, set[int]] = {}
for _phrase in _PHRASES:
    _LENGTHS.setdefault(_phrase[0], set()).add(len(_phrase))
_SIZES = {word: tuple(sorted(lengths, reverse=True)) for word, lengths in _LENGTHS.items()}
# A selector's matchers ({job="x"}): their values are no words of the rule.
_MATCHERS = re.compile(r"\{[^}]*\}")

# Words of an alert about a resolver, certificates, connection limits or an ingress controller: their
# failure shows elsewhere as that symptom.
SYMPTOM_WORDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {  # (any of, and any of when given)
    "dns": (frozenset({"dns", "coredns", "resolver"}), frozenset()),
    "certificate": (frozenset({"cert", "certificate", "ssl", "tls", "x509"}), frozenset()),
    "connection-pool": (
        frozenset({"connection", "connections"}),
        frozenset({"many", "max", "exhausted", "pool", "limit", "saturated", "slots"}),
    ),
    # a filesystem or volume full: ENOSPC in the logs of whoever writes to it
    "disk-full": (
        frozenset({"filesystem", "disk", "volume", "storage", "pvc"}),
        frozenset({"full", "space", "filling", "inodes", "enospc"}),
    ),
    # the ingress controller itself failing (not one ingress's errors): every ingress behind it
    "ingress": (
        frozenset({"ingress", "nginx", "haproxy", "envoy", "traefik"}),
        frozenset({"config", "configuration", "reload", "controller", "down", "unavailable"}),
    ),
}
# Failure classes of what a whole cluster shares (one resolver, one issuer, one ingress controller).
SHARED_SYMPTOM_CLASSES = frozenset({"dns", "certificate", "certificate-expiring", "ingress"})
# Words naming a machine: an alert with them and no pod speaks of its node or host.
_NODE_WORDS = frozenset({"node", "host", "kubelet", "machine", "instance", "server", "vm"})
_ZONE_WORDS = frozenset({"zone", "az", "region", "partition", "partitioned", "datacenter", "rack"})


@lru_cache(maxsize=8192)
def words_of(text: str) -> tuple[str, ...]:
    """The lower-cased words of a name or a sentence, in order."""
    return tuple(map(str.lower, _WORD.findall(text)))


def verdicts(words: tuple[str, ...]) -> set[Verdict]:
    """The verdicts of the phrases in ``words``, each word in at most one phrase."""
    found: set[Verdict] = set()
    i = 0
    while i < len(words):
        sizes = _SIZES.get(words[i])
        if sizes is None:
            i += 1
            continue
        for size in sizes:
            verdict = _PHRASES.get(words[i : i + size]) if i + size <= len(words) else None
            if verdict is not None:
                found.add(verdict)
                i += size
                break
        else:
            i += 1
    return found


@dataclass(frozen=True)
class Kind:
    """What an alert says: ``unavailable`` implies ``failing``."""

    unavailable: bool
    failing: bool
    node_level: bool  # about a node or host, not one of its pods
    zone_level: bool  # about a zone or a network partition


# The words ``_read`` looks for in a summary: those of its phrases, machines and zones.
_SALIENT = frozenset(word for phrase in _PHRASES for word in phrase) | _NODE_WORDS | _ZONE_WORDS


def salient(words: tuple[str, ...], known: frozenset[str]) -> tuple[str, ...]:
    """``words`` as a phrase matcher over the words ``known`` sees them: the known words in order,
    each run of others as one "". No phrase spans an unknown word, so the phrases found are those of
    ``words``; and texts that differ by their subject's name ("High CPU usage on node-5") read as one,
    so a cache keyed on this holds for a storm of distinct alerts of one rule."""
    kept: list[str] = []
    for word in words:
        if word in known:
            kept.append(word)
        elif not kept or kept[-1]:
            kept.append("")
    return tuple(kept)


def lone_numbers(known: frozenset[str]) -> re.Pattern[str]:
    """The numbers of a text that can be no word of ``known``: standing alone (no letter after them and
    no x before them: 5xx, 500s and x509 are words) and not a number ``known`` holds (the 509 of x509,
    as the analyst's words split it). Any of them read as any other to ``salient`` over ``known``, so a
    text with each written as 0 reads as the text does: a rule's summaries, which differ by their
    subject's number ("High CPU usage on node-704"), are read once."""
    if "0" in known:  # what the others are written as: it would read as a word
        return re.compile(r"(?!)")
    # Digit first, so the engine skips to digits (a look-behind first is tried at every position): a
    # digit with no x nor digit before it, the run's others, no letter nor digit after it, and the run
    # not one of the numbers kept (each looked back at from its end: the text's start, or no digit).
    numbers = sorted(re.escape(word) for word in known if word.isdigit())
    kept = "".join(f"(?<!^{number})(?<![^\\d]{number})" for number in numbers)
    return re.compile(rf"\d(?<![xX\d]\d)\d*(?![A-Za-z\d]){kept}")


class NumbersAlike:
    """``lone_numbers(known)`` as a rewrite: ``zeroed(text)`` is its ``sub("0", text)``. A text in which
    no number ``known`` keeps occurs at all, the usual case, is rewritten as with none kept, once for
    every vocabulary: a storm's summary is read by the correlation (its kind, its symptoms) and by the
    rules, each with words of its own, and its numbers were rewritten by each."""

    def __init__(self, known: frozenset[str]) -> None:
        self.pattern = lone_numbers(known)
        kept = sorted(re.escape(word) for word in known if word.isdigit())
        self._kept = re.compile("|".join(kept)) if kept else None  # where a number kept occurs
        self._as_written = "0" in known  # ``lone_numbers`` writes no number then

    def zeroed(self, text: str) -> str:
        if self._as_written or not text:
            return text
        if self._kept is not None and self._kept.search(text):
            return self.pattern.sub("0", text)
        return _zeroed(text)


_ANY_LONE_NUMBER = lone_numbers(frozenset())


# Cached: a batch's summaries and descriptions (up to 512 alerts) are read by the correlation and by
# the rules at different moments of its turn.
@lru_cache(maxsize=4096)
def _zeroed(text: str) -> str:
    """``text`` with every lone number written as 0, none kept."""
    return _ANY_LONE_NUMBER.sub("0", text)


_LONE_NUMBERS = NumbersAlike(_SALIENT)


@lru_cache(maxsize=4096)
def _said(summary: str) -> tuple[str, ...]:
    """``salient`` words of a summary whose lone numbers are written as 0 already (``lone_numbers``)."""
    return salient(words_of(summary), _SALIENT)


@lru_cache(maxsize=4096)
def _read(alertname: str, said: tuple[str, ...], expression: str) -> tuple[bool, bool, bool, bool]:
    """(unavailable, failing, names a machine, names a zone) of one rule's texts, its summary's words
    as ``salient`` keeps them (the machine and zone words are phrases of one word here): a storm
    repeats a few rules many times."""
    found, gone = _read_rule(alertname, expression)
    found = found | verdicts(said)
    unavailable = "unavailable" in found or gone
    topic = frozenset(words_of(alertname)) | frozenset(said)
    return (
        unavailable,
        unavailable or "failing" in found,
        not topic.isdisjoint(_NODE_WORDS),
        not topic.isdisjoint(_ZONE_WORDS),
    )


@lru_cache(maxsize=1024)
def _read_rule(alertname: str, expression: str) -> tuple[frozenset[Verdict], bool]:
    """(verdicts, target gone) of a rule's name and expression: summaries differ by subject, rules do not."""
    found = verdicts(words_of(alertname)) | verdicts(words_of(_MATCHERS.sub(" ", expression)))
    return frozenset(found), bool(_TARGET_GONE.search(expression))


def alert_kind(alert: schemas.Alert) -> Kind:
    labels = alert.labels
    summary = alert.annotations.get("summary", "") or alert.annotations.get("message", "")
    said = _said(_LONE_NUMBERS.zeroed(summary))
    unavailable, failing, machine, zone = _read(labels.get("alertname", ""), said, alert.rule_expression)
    if labels.get("pod") or labels.get("exported_pod"):  # about a pod: not the node or zone it runs in
        return _kind(unavailable, failing, False, False)
    # A node label alone names where a target runs; the alert is about the node when its words say so or
    # when nothing else (job, service, instance) is named.
    node_level = machine or (
        "node" in labels
        and not any(labels.get(key) for key in ("job", "service", "instance", "exported_job"))
    )
    return _kind(unavailable, failing, node_level, zone)


@cache
def _kind(unavailable: bool, failing: bool, node_level: bool, zone_level: bool) -> Kind:
    """One frozen Kind per combination (16 at most), shared: building one per alert is a cost."""
    return Kind(unavailable=unavailable, failing=failing, node_level=node_level, zone_level=zone_level)
