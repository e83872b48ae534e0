"""The documentation's cross-references lead somewhere: a reader who follows a link, or looks up the
section a comment names, finds it (sections move between pages: docs/incidents-throughput.md was cut
out of docs/incidents.md)."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Where code and pages name a section in words: docs/<page>.md, "<its title or its first words>".
SOURCES = [
    *PAGES,
    *sorted(p for folder in ("services", "bench", "schemas", "tests") for p in (ROOT / folder).rglob("*.py")),
]
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.MULTILINE)
_FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
_NAMED = re.compile(r"(docs/[a-z-]+\.md),\s*(?:from\s+)?\"([^\"]+)\"")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"`|\*\*|\[([^\]]*)\]\([^)]*\)", r"\1", heading).lower()
    kept = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN")
    return kept.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for heading in _HEADING.findall(_FENCE.sub("", page.read_text())):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def _words(text: str) -> str:
    return re.sub(r"[\s#]+", " ", text).strip()


def test_the_slug_is_githubs() -> None:
    assert slug("Correlation compiled with mypyc (stop 44)") == "correlation-compiled-with-mypyc-stop-44"
    assert slug("Your settings: `just setup`") == "your-settings-just-setup"
    assert slug("State, replicas and lifecycle") == "state-replicas-and-lifecycle"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for target in _LINK.findall(_FENCE.sub("", page.read_text())):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto: outside the repository
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target}: no such section")
    assert not broken, f"{page.name}: {broken}"


def test_every_section_named_in_words_is_there() -> None:
    missing = []
    for source in SOURCES:
        text = source.read_text()
        for page, title in _NAMED.findall(text):
            target = ROOT / page
            if not target.exists():
                missing.append(f"{source.relative_to(ROOT)}: {page} does not exist")
            elif _words(title) not in _words(target.read_text()):
                missing.append(f'{source.relative_to(ROOT)}: {page} has no "{_words(title)}"')
    assert not missing, "\n".join(missing)
