"""The log evidence of one alert: which streams, which lines of the window, which templates to keep.

The cause of an incident is often one quiet line before a flood (``Using staging endpoints``
before thousands of ``Connection refused``, ``DEPLOY_ENV is undefined`` before the BackOff
events). So the window is read oldest first, whole when it fits ``MAX_LOG_LINES``; a busier
window adds its first and last problem lines and the lines just before the first problem.
Templates are then ranked so that the first problem and its context come before the flood.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass

from schemas import LogEvidence, LogSource, LogTemplate, SourceErrorKind
from services.enricher._errors import SourceError
from services.enricher._loki import Loki, problem_query
from services.enricher._shared_settings import SharedSettings
from services.enricher._source import Entry, LogRead
from services.enricher._streams import candidates, most_specific, object_names
from services.enricher._templates import cluster, within_budget

# Info lines first seen this close to the first problem are its context (start-up, config, reload).
_CONTEXT_BEFORE = 120.0
_CONTEXT_AFTER = 10.0
_CONTEXT_TEMPLATES = 5
_CONTEXT_REPEATS = 3
_TRIED_SHOWN = 5
# Kubernetes events shipped as lines (event-exporter, Alloy): a Warning event is a problem, a Normal
# one (Pulled, Created, Started) is the least telling line there is.
_EVENT_TYPE = re.compile(r"""\btype["']?\s*[=:]\s*["']?(Warning|Normal)\b""")


@dataclass(frozen=True)
class LogLimits:
    max_lines: int = 500
    max_templates: int = 40
    char_budget: int = 6000


def log_limits_from(settings: SharedSettings) -> LogLimits:
    return LogLimits(
        max_lines=settings.max_log_lines,
        max_templates=settings.max_log_templates,
        char_budget=settings.log_char_budget,
    )


@dataclass(frozen=True)
class Span:
    start: float
    end: float


class LogReader:
    def __init__(
        self, loki: Loki, label_map: Mapping[str, str], events_selector: str, limits: LogLimits
    ) -> None:
        self._loki = loki
        self._label_map = label_map
        self._events_selector = events_selector
        self._limits = limits

    async def read(
        self, labels: Mapping[str, str], span: Span, deadline: float
    ) -> tuple[LogEvidence | None, list[SourceError]]:
        """The alert's log evidence from Loki alone (the evaluation's adapter reads it this way)."""
        reads, errors = await self.collect(labels, span, deadline)
        return log_evidence(reads, self._limits), errors

    async def collect(
        self, labels: Mapping[str, str], span: Span, deadline: float
    ) -> tuple[list[LogRead], list[SourceError]]:
        """The workload's lines and its Kubernetes events, unclustered: the enricher merges log sources."""
        jobs: list[Awaitable[LogRead | SourceError | None]] = [self._workload(labels, span, deadline)]
        names = object_names(labels)
        if self._events_selector and names:
            query = f"{self._events_selector} |~ `{names}`"
            jobs.append(self._events(query, span, deadline))
        results = await asyncio.gather(*jobs)
        reads = [result for result in results if isinstance(result, LogRead)]
        errors = [result for result in results if isinstance(result, SourceError)]
        return reads, errors

    async def _workload(
        self, labels: Mapping[str, str], span: Span, deadline: float
    ) -> LogRead | SourceError:
        found = candidates(labels, self._label_map)
        if not found:
            return SourceError(
                "loki",
                "the alert has no label that names a log stream (pod, container, service, instance)",
                kind=SourceErrorKind.NO_MATCH,
            )
        selectors = [candidate.selector for candidate in found]
        try:
            streams = await self._loki.series(selectors, span.start, span.end, deadline)
            index = most_specific(found, streams)
            if index is None:
                shown = ", ".join(selectors[:_TRIED_SHOWN])
                more = f" and {len(selectors) - _TRIED_SHOWN} more" if len(selectors) > _TRIED_SHOWN else ""
                reason = f"no log stream in the window matches {shown}{more}"
                return SourceError("loki", reason, selectors[0], SourceErrorKind.NO_MATCH)
            selector = selectors[index]
            entries, query = await self._window(selector, span, deadline)
        except SourceError as exc:
            return exc
        tried = selectors[:index][:_TRIED_SHOWN]
        source = LogSource(name="workload", selector=selector, lines=len(entries), tried=tried)
        return LogRead(source, query, entries)

    async def _window(self, selector: str, span: Span, deadline: float) -> tuple[list[Entry], str]:
        """The window oldest first; when it holds more than the limit, also the problems and their context."""
        limit = self._limits.max_lines
        oldest = await self._loki.query_range(selector, span.start, span.end, limit, deadline, forward=True)
        if len(oldest) < limit:
            return oldest, selector
        problems = problem_query(selector)
        share = max(1, limit * 3 // 8)
        first, last = await asyncio.gather(
            self._loki.query_range(problems, span.start, span.end, share, deadline, forward=True),
            self._loki.query_range(problems, span.start, span.end, share, deadline),
        )
        context: list[Entry] = []
        if first:
            # The lines just before (and at) the first problem, newest first: what led to it.
            until = min(first[0][0] + 0.001, span.end)
            context = await self._loki.query_range(selector, span.start, until, max(1, limit // 4), deadline)
        return union(oldest, first, last, context), problems

    async def _events(self, query: str, span: Span, deadline: float) -> LogRead | SourceError | None:
        try:
            entries = await self._loki.query_range(
                query, span.start, span.end, max(1, self._limits.max_lines // 2), deadline, forward=True
            )
        except SourceError as exc:
            return exc
        if not entries:
            return None  # no events shipped, or none about these objects: nothing to say
        source = LogSource(name="events", selector=self._events_selector, lines=len(entries))
        return LogRead(source, query, entries)


def log_evidence(reads: Sequence[LogRead], limits: LogLimits) -> LogEvidence | None:
    """The lines of every log source read for one alert, clustered and ranked together in one budget."""
    if not reads:
        return None
    entries = union(*(read.entries for read in reads))
    templates = rank(cluster(entries))
    kept = within_budget(templates, limits.max_templates, limits.char_budget)
    return LogEvidence(
        query=reads[0].query,
        lines=len(entries),
        templates=kept,
        omitted_templates=len(templates) - len(kept),
        sources=[read.source for read in reads],
    )


def union(*batches: Sequence[Entry]) -> list[Entry]:
    """Lines of overlapping queries, each once, in time order.

    Two pods may write the same line at the same instant, so one answer's duplicates are
    kept: a line counts as many times as the answer holding it most often.
    """
    counts: Counter[Entry] = Counter()
    for batch in batches:
        for entry, times in Counter(batch).items():
            counts[entry] = max(counts[entry], times)
    return sorted(counts.elements())


def _event_type(template: LogTemplate) -> str | None:
    found = _EVENT_TYPE.search(template.sample)
    return found.group(1) if found else None


def _is_problem(template: LogTemplate) -> bool:
    return template.severity != "info" or _event_type(template) == "Warning"


def rank(templates: Sequence[LogTemplate]) -> list[LogTemplate]:
    """The first problem, the quiet lines around it, the other problems, then the rarest info lines.

    Every template is a first occurrence with a count, so one flooding error takes one place,
    and what came just before the first problem is not pushed out by the flood.
    """
    problems = [t for t in templates if _is_problem(t)]
    quiet = [t for t in templates if not _is_problem(t)]
    if not problems:
        return sorted(quiet, key=lambda t: (_event_type(t) == "Normal", t.count, t.first, t.template))
    first = min(problems, key=lambda t: (t.first, t.template))
    onset = first.first.timestamp()
    # A line repeated far more often than the problem is the service's routine (a heartbeat,
    # "request served"), not what led to the problem, wherever its first occurrence falls.
    routine = max(first.count, _CONTEXT_REPEATS)
    near = [
        t
        for t in quiet
        if -_CONTEXT_BEFORE <= t.first.timestamp() - onset <= _CONTEXT_AFTER
        and t.count <= routine
        and _event_type(t) != "Normal"
    ]
    near.sort(key=lambda t: (abs(t.first.timestamp() - onset), t.template))
    context = near[:_CONTEXT_TEMPLATES]
    rest_problems = sorted(
        (t for t in problems if t is not first),
        key=lambda t: (t.severity != "error", -t.count, t.first, t.template),
    )
    rest_quiet = sorted(
        (t for t in quiet if t not in context),
        key=lambda t: (_event_type(t) == "Normal", t.count, t.first, t.template),
    )
    return [first, *context, *rest_problems, *rest_quiet]
