"""Queries in remediation steps that run as written when pasted into Prometheus.

A template writes ``{instance="${instance}",mountpoint="${volume|<mountpoint>}"}``; when the alert
names no mountpoint the matcher ``mountpoint="<mountpoint>"`` matches no series, and the query the
person pastes returns nothing. A matcher on a stand-in value is dropped when another matcher still
names what the alert is about; a query with nothing else to scope it keeps its stand-in, so it asks to
be filled in instead of answering for every target at once.
"""

from __future__ import annotations

import re

# One code span of a step; the selectors inside it; one matcher of a selector.
_CODE = re.compile(r"`[^`]*`")
_SELECTOR = re.compile(r"\{([^{}]*)\}")
_MATCHER = re.compile(r'\s*[A-Za-z_]\w*\s*(?:=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"\s*')
_STAND_IN = re.compile(r'"<[^<>"]+>"\s*$')
_NAMING = re.compile(r'^\s*[A-Za-z_]\w*\s*=\s*"(?!<)[^"]+"\s*$')


def _selector(found: re.Match[str]) -> str:
    body = found.group(1)
    matchers = _MATCHER.findall(body)
    if not matchers or "".join(matchers).replace(",", "") != body.replace(",", ""):
        return found.group(0)  # not a plain list of matchers (a jsonpath, an awk program): as written
    kept = [m.strip() for m in matchers if not _STAND_IN.search(m)]
    if len(kept) == len(matchers) or not any(_NAMING.match(m) for m in kept):
        return found.group(0)
    return "{" + ",".join(kept) + "}"


def _code(found: re.Match[str]) -> str:
    return _SELECTOR.sub(_selector, found.group(0))


def scoped_queries(step: str) -> str:
    return _CODE.sub(_code, step) if '"<' in step else step
