"""What a Jira issue says: the analysis as blocks, written as Atlassian Document Format (Cloud, REST v3)
or as plain text (Data Center, REST v2)."""

from __future__ import annotations

from typing import Any

from services.notifier._clip import clip
from services.notifier._view import AlertView

TEXT_LIMIT = 30000

# What an issue says, as blocks: ("p", text), ("h", title), ("ul" | "ol", items), ("a", [(text, url)...]).
Block = tuple[str, Any]


def blocks(v: AlertView) -> list[Block]:
    a = v.analysis
    said: list[Block] = [
        ("p", a.summary),
        ("p", f"Root cause ({a.category}, {v.confidence} confidence): {a.root_cause}"),
    ]
    if a.evidence:
        said += [("h", "Evidence"), ("ul", a.evidence)]
    if a.remediation:
        said += [("h", "Remediation"), ("ol", a.remediation)]
    if v.links:
        said.append(("a", [(link.text, link.url) for link in v.links]))
    labels = ", ".join(f"{k}={val}" for k, val in v.alert.labels.items())
    said.append(("p", f"Labels: {labels}. Analyzer: {v.analyzer_text}. Alert id: {v.message.id}."))
    return said


def _text_node(text: str, href: str = "") -> dict[str, Any]:
    node: dict[str, Any] = {"type": "text", "text": clip(text, TEXT_LIMIT) or "-"}
    if href:
        node["marks"] = [{"type": "link", "attrs": {"href": href}}]
    return node


def _paragraph(*nodes: dict[str, Any]) -> dict[str, Any]:
    return {"type": "paragraph", "content": list(nodes)}


def adf(document: list[Block]) -> dict[str, Any]:
    """Atlassian Document Format, which Jira Cloud's v3 API requires for rich text."""
    content: list[dict[str, Any]] = []
    for kind, value in document:
        if kind == "p":
            content.append(_paragraph(_text_node(value)))
        elif kind == "h":
            content.append({"type": "heading", "attrs": {"level": 3}, "content": [_text_node(value)]})
        elif kind in ("ul", "ol"):
            items = [{"type": "listItem", "content": [_paragraph(_text_node(i))]} for i in value]
            content.append({"type": "bulletList" if kind == "ul" else "orderedList", "content": items})
        else:
            links = [_text_node(text, url) for text, url in value]
            spaced = [n for link in links for n in (link, _text_node(" · "))][:-1]
            content.append(_paragraph(*spaced))
    return {"type": "doc", "version": 1, "content": content}


def plain(document: list[Block]) -> str:
    lines: list[str] = []
    for kind, value in document:
        if kind in ("p", "h"):
            lines += [value, ""] if kind == "p" else [f"{value}:"]
        elif kind in ("ul", "ol"):
            marks = ["-"] * len(value) if kind == "ul" else [f"{i}." for i in range(1, len(value) + 1)]
            lines += [*(f"{m} {item}" for m, item in zip(marks, value, strict=True)), ""]
        else:
            lines += [*(f"{text}: {url}" for text, url in value), ""]
    return clip("\n".join(lines).strip(), TEXT_LIMIT)


def update_blocks(v: AlertView, category: str, severity: str) -> list[Block]:
    """A comment on an issue whose alert fired again and was analysed differently."""
    change = f"category {category} → {v.analysis.category}, severity {severity} → {v.severity}"
    return [("p", f"The alert fired again and was analysed differently: {change}."), *blocks(v)]
