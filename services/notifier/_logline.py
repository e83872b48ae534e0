"""The analysis as a few readable lines, for the log when no destination is configured."""

from __future__ import annotations

from services.notifier._view import AlertView


def summary_lines(v: AlertView) -> str:
    a = v.analysis
    where = f" on {v.where}" if v.where else ""
    if v.resolved:
        return f"{v.icon} RESOLVED {v.name}{where} after {v.fired_for_text} — root cause was: {a.root_cause}"
    lines = [
        f"{v.badge} {v.name}{where} — {a.category} ({v.confidence}, {v.analyzer_text})",
        f"    summary:    {a.summary}",
        f"    root cause: {a.root_cause}",
    ]
    lines += [f"    evidence:   {item}" for item in a.evidence[:5]]
    lines += [f"    step {i}:     {step}" for i, step in enumerate(a.remediation[:5], start=1)]
    lines += [f"    {link.text}: {link.url}" for link in v.links]
    return "\n".join(lines)
