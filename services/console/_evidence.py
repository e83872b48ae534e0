"""The parts of an alert or incident page: the analysis, the evidence behind it, and the verdict form."""

from __future__ import annotations

import schemas
from services.console._charts import line_chart
from services.console._html import Frame, esc, when

MAX_SHOWN_VALUE = 2000


def _clip(value: str) -> str:
    return value if len(value) <= MAX_SHOWN_VALUE else value[:MAX_SHOWN_VALUE] + " …[clipped]"


def pairs_table(caption: str, pairs: dict[str, str]) -> str:
    if not pairs:
        return ""
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(_clip(v))}</td></tr>" for k, v in sorted(pairs.items()))
    return f'<table class="pairs"><caption>{esc(caption)}</caption>{rows}</table>'


def with_code(text: str) -> str:
    """``text`` escaped, its `backticked` commands as code, as Slack shows the same analysis: a command
    to copy reads as one, not as prose between two stray backticks. An unpaired backtick stays text."""
    pieces = text.split("`")
    if len(pieces) < 3:
        return esc(text)
    if len(pieces) % 2 == 0:  # an odd number of backticks: the last one has no partner
        pieces[-2:] = [pieces[-2] + "`" + pieces[-1]]
    return "".join(
        f"<code>{esc(piece)}</code>" if i % 2 and piece else esc(piece) for i, piece in enumerate(pieces)
    )


def _items(values: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{with_code(v)}</li>" for v in values) + "</ul>" if values else ""


def analysis_section(analysis: schemas.Analysis | None) -> str:
    if analysis is None:
        return '<section class="analysis"><h2>Analysis</h2><p class="empty">Not analysed yet.</p></section>'
    made_by = analysis.analyzer + (f" ({analysis.model})" if analysis.model else "")
    degraded = (
        f'<p class="degraded">Degraded: {esc(analysis.degraded_reason or "LLM unavailable")}</p>'
        if analysis.degraded
        else ""
    )
    tokens = (
        f" · {analysis.prompt_tokens} prompt + {analysis.completion_tokens} completion tokens"
        if analysis.prompt_tokens or analysis.completion_tokens
        else ""
    )
    return (
        '<section class="analysis"><h2>Analysis</h2>'
        f'<p class="summary">{esc(analysis.summary)}</p>{degraded}'
        f"<dl><dt>Root cause</dt><dd>{with_code(analysis.root_cause)}</dd>"
        f"<dt>Category</dt><dd>{esc(analysis.category)}</dd>"
        f"<dt>Confidence</dt><dd>{round(analysis.confidence * 100)}%</dd>"
        f"<dt>Analyzer</dt><dd>{esc(made_by)}{esc(tokens)}{' · reused' if analysis.reused else ''}</dd></dl>"
        f"<h3>Evidence cited</h3>{_items(analysis.evidence) or '<p class=empty>None cited.</p>'}"
        f"<h3>Remediation</h3>{_items(analysis.remediation) or '<p class=empty>None given.</p>'}</section>"
    )


def _series_row(s: schemas.SeriesSummary) -> str:
    labels = ", ".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
    change = f"{s.change_pct:+.0f}%" if s.change_pct is not None else ""
    return (
        f"<tr><td>{esc(labels)}</td><td>{esc(schemas.number(s.min))}</td><td>{esc(schemas.number(s.max))}</td>"
        f"<td>{esc(schemas.number(s.mean))}</td><td>{esc(schemas.number(s.last))}</td><td>{esc(change)}</td>"
        f"<td>{esc('; '.join(s.events))}</td></tr>"
    )


def metrics_section(evidence: schemas.Evidence, started: schemas.Alert) -> str:
    if not evidence.metrics:
        return '<section><h2>Metrics</h2><p class="empty">No metric evidence.</p></section>'
    parts = ["<section><h2>Metrics</h2>"]
    for metric in evidence.metrics:
        omitted = f" ({metric.omitted_series} more series left out)" if metric.omitted_series else ""
        parts.append(
            f'<figure class="metric"><figcaption>{esc(metric.name)}{esc(omitted)}'
            f"<code>{esc(metric.query)}</code>"
            f"</figcaption>{line_chart(metric.name, metric.series, started.starts_at)}"
            '<table class="series"><thead><tr><th>Series</th><th>min</th><th>max</th><th>mean</th>'
            "<th>last</th>"
            f"<th>change</th><th>findings</th></tr></thead>{''.join(_series_row(s) for s in metric.series)}"
            "</table></figure>"
        )
    parts.append("</section>")
    return "".join(parts)


def logs_section(evidence: schemas.Evidence) -> str:
    logs = evidence.logs
    if logs is None or not logs.templates:
        return '<section><h2>Logs</h2><p class="empty">No log evidence.</p></section>'
    rows = "".join(
        f'<tr class="log-{esc(t.severity)}"><td>{t.count}</td><td>{esc(t.severity)}</td>'
        f"<td><code>{esc(_clip(t.template))}</code><div class=sample>{esc(_clip(t.sample))}</div></td>"
        f"<td>{when(t.first)}</td><td>{when(t.last)}</td></tr>"
        for t in logs.templates
    )
    sources = ", ".join(f"{s.backend} {s.name} {s.selector} ({s.lines} lines)" for s in logs.sources)
    omitted = f"; {logs.omitted_templates} more templates left out" if logs.omitted_templates else ""
    return (
        f"<section><h2>Logs</h2><p>{logs.lines} lines{esc(omitted)}. {esc(sources)}</p>"
        '<table class="logs"><thead><tr><th>Count</th><th>Level</th><th>Template and sample</th>'
        f"<th>First</th><th>Last</th></tr></thead>{rows}</table></section>"
    )


def errors_section(evidence: schemas.Evidence) -> str:
    if not evidence.errors:
        return ""
    rows = "".join(f"<li>{esc(e.source)}: {esc(e.kind)} — {esc(e.reason)}</li>" for e in evidence.errors)
    return f"<section><h2>Sources that gave nothing</h2><ul>{rows}</ul></section>"


def feedback_section(
    target: str, target_id: str, current: schemas.Feedback | None, frame: Frame, back: str
) -> str:
    given = ""
    if current is not None:
        corrected = f" → {current.corrected_category}" if current.corrected_category else ""
        given = (
            f'<p class="verdict">Verdict: <strong>{esc(current.verdict)}</strong>{esc(corrected)}'
            f" by {esc(current.author or 'someone')} {when(current.given_at)}"
            f"{'<br>Cause: ' + esc(current.actual_cause) if current.actual_cause else ''}"
            f"{'<br>Fix: ' + esc(current.actual_fix) if current.actual_fix else ''}</p>"
        )
    if not frame.can_give_feedback:
        return (
            f'<section class="feedback"><h2>Feedback</h2>{given or "<p class=empty>None yet.</p>"}</section>'
        )
    options = "".join(f'<option value="{esc(c)}">{esc(c)}</option>' for c in schemas.CATEGORIES)
    return (
        f'<section class="feedback"><h2>Feedback</h2>{given}'
        '<form class="feedback-form" method="post" action="/api/feedback">'
        f'<input type="hidden" name="csrf_token" value="{esc(frame.csrf)}">'
        f'<input type="hidden" name="target" value="{esc(target)}">'
        f'<input type="hidden" name="target_id" value="{esc(target_id)}">'
        f'<input type="hidden" name="next" value="{esc(back)}">'
        '<button type="submit" name="verdict" value="confirmed" class="confirm">Confirm analysis</button>'
        "<details><summary>Wrong? Correct it</summary>"
        f'<label>Actual category <select name="corrected_category"><option value="">(same)</option>{options}'
        '</select></label><label>Actual cause <textarea name="actual_cause" maxlength="4000">'
        "</textarea></label>"
        '<label>Fix <textarea name="actual_fix" maxlength="4000"></textarea></label>'
        '<button type="submit" name="verdict" value="corrected" class="correct">Save correction</button>'
        '</details><output class="feedback-result" aria-live="polite"></output></form></section>'
    )
