"""The values in a log line masked, so that lines of one message compare equal.

Every rule names a kind of value found in logs of any product, never one product's format:

- a word holding a digit is a value: numbers, ids (``blk_-42``, ``0x7f``, UUIDs), IP addresses and ports,
  timestamps, versions, hosts like ``node-12``. Words end at spaces and at the punctuation around values
  (``= , ; : ( ) [ ] { } " ' < >``), so ``uid=0`` keeps its key and ``repo.go:88`` its file; a word that
  holds a digit runs on through ``:`` (``10.0.3.7:5432``, ``10:00:01``) but takes no trailing ``:`` or ``.``;
- a date written with names (``Sun Jul 10 03:55:15 2005``, ``Jul 10 03:55:15``, as ctime and syslog print);
- a bound with its unit (``<1 sec``), which would otherwise split at ``<`` and leave the unit a word alone;
- a number with the unit a humanised size or duration picks by its magnitude (``93.0 B`` / ``5.2 KB``,
  ``800 ms`` / ``1.2 s``); a unit that stays the same (``2034 bytes``, ``3 seconds``) stays a word;
- a quantity restated in parentheses after a number (``2034 bytes (1.98 KB) sent``) is dropped, since it is
  printed for some values and not others;
- a stack frame (``\\tat com.example.Foo.bar(Foo.java:42)``) is one ``at <frame>``.

``masked`` gives the key lines are grouped by (one regular-expression pass); ``shown`` the same words with
each value's kind where it has a recognisable one (``<ip>``, ``<uuid>``, ``<ts>``, ``<hex>``, ``<n>``,
``<pod>``) and ``<*>`` otherwise, for a person to read.
"""

from __future__ import annotations

import re

WILD = "<*>"
# A word ends at a space or at the punctuation around values; ':' ends one too, unless it holds a digit.
_WORD = r"[^\s=,;:()\[\]{}\"'<>]"
_WORD_ON = r"[^\s=,;()\[\]{}\"'<>]"
# Units a humanised quantity picks by its size (`93.0 B`, `5.2 KB`, `800 ms`, `1.2 s`): part of the value.
_SCALED = r"(?:[kKMGTP]i?B|B|[mun\u00b5]?s|min|h)"
_UNIT = rf"(?:{_SCALED}|bytes|sec|secs|seconds|mins|minutes|hours|%)"
_DAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
# The look-ahead rules most words out with one character test before the names are tried.
_DATE = (
    rf"(?=[MTWFSJAOND][a-z]{{2}}[ ,])(?:{_DAY},? +)?{_MONTH} +\d\d?,? +"
    r"(?:\d{4} +)?\d\d:\d\d:\d\d(?:[.,]\d+)?(?: +\d{4}\b)?"
)
# Tried at word starts only (the look-behind): a named date, a bound with its unit, a word holding a digit,
# which runs on through ':' (`10.0.3.7:5432`, `10:00:01`) and does not take a trailing ':' or '.'; a word
# without a digit ends at ':', so `repo.go:88` keeps its file and `"attempt":3` its key.
_VALUE = re.compile(
    rf"(?<!{_WORD})(?:{_DATE}|[<>~]\d[\d.,:]*(?: {_UNIT}\b)?|\d[\d.,]*(?<![.,]) {_SCALED}\b"
    rf"|{_WORD}*\d{_WORD_ON}*(?<![:.]))"
)
_RESTATED = re.compile(rf"(?<=\w) \(\d[\d.,]* ?{_UNIT}\)")
_FRAME = re.compile(r"^\s+at \S.*$", re.MULTILINE)
_DURATION = r"-?\d+(?:[.,]\d+)*(?:[a-zA-Z\u00b5]{1,3}(?:\d+(?:\.\d+)?[a-zA-Z\u00b5]{1,3})*|%)?"
# One pattern, tried whole on each value; the first kind that fits names it.
_KINDS = re.compile(
    "|".join(
        rf"(?P<{name}>{pattern})"
        for name, pattern in [
            ("uuid", r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"),
            ("ts", _DATE),
            ("ts_iso", r"\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?)?"),
            ("ts_time", r"\d\d?:\d\d(?::\d\d(?:[.,]\d+)?)?"),
            ("ip", r"\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?"),
            ("hex", r"0x[0-9a-fA-F]+|(?=[0-9a-f]*[a-f])[0-9a-f]{8,}"),
            # Kubernetes pod names end in -<replicaset hash>-<5 chars>; one pod is not one message.
            ("pod", r"[a-z][a-z0-9-]*-[a-z0-9]{8,10}-[a-z0-9]{5}"),
            # Numbers with their unit and compound durations: 42, 0.5, 30ms, 1m30s, 512MiB, 80%, <1 sec.
            ("n", rf"[<>~]?{_DURATION}(?: {_UNIT})?"),
        ]
    )
)


def _kind(found: re.Match[str]) -> str:
    kind = _KINDS.fullmatch(found.group())
    return f"<{kind.lastgroup.partition('_')[0]}>" if kind and kind.lastgroup else WILD


def _unwrapped(line: str) -> str:
    if "\n" in line or line[:1].isspace():
        line = _FRAME.sub("at <frame>", line)
    if " (" in line:
        line = _RESTATED.sub("", line)
    return line


def masked(line: str) -> str:
    """The line with its values as ``<*>``: the key lines of one message share."""
    return _VALUE.sub(WILD, _unwrapped(line))


def shown(line: str) -> list[str]:
    """The words of ``masked(line)`` in the same places, each value by its kind where it has one."""
    return _VALUE.sub(_kind, _unwrapped(line)).split()
