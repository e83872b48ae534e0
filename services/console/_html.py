"""The page frame and the few helpers every page uses to turn data into HTML, escaped.

The rule of the console's HTML: every value that did not come from this package's own literals
passes through ``esc`` (text and attribute values alike), and URLs through ``safe_url``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from urllib.parse import urlencode, urlsplit

ASSET_VERSION = "3"


def esc(value: object) -> str:
    return escape(str(value), quote=True)


_BREAK = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[_./=])")


def breakable(value: object) -> str:
    """Escaped, with line-break chances where a long name has word boundaries without a space
    (``KubeDeploymentReplicasMismatch``, ``deployment_regression``): a list column can then be narrower
    than the longest name, and a storm's list fits the screen instead of scrolling sideways."""
    return "<wbr>".join(esc(piece) for piece in _BREAK.split(str(value)))


def safe_url(url: str) -> str:
    """An http(s) URL as an attribute value; anything else (javascript:, data:) becomes inert."""
    parts = urlsplit(url)
    return esc(url) if parts.scheme in ("http", "https") and parts.netloc else "#"


def when(moment: datetime | None) -> str:
    """A moment in UTC, saying so (as Slack's messages do): a bare "20:11" reads as local time to
    someone on call in another zone. Date and time wrap as two pieces in a narrow column."""
    if moment is None:
        return ""
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return (
        f'<time datetime="{esc(moment.isoformat())}"><span>{moment:%Y-%m-%d}</span> '
        f"<span>{moment:%H:%M:%S} UTC</span></time>"
    )


def query_string(params: dict[str, str]) -> str:
    return "?" + urlencode(params) if params else ""


@dataclass(frozen=True)
class Frame:
    """What every page shows around its content: who is signed in, the CSRF token, the banner."""

    user: str
    csrf: str
    can_give_feedback: bool
    banner: str = ""  # why the history is not available, shown on every page
    signed_in_by_form: bool = False


def layout(title: str, frame: Frame, body: str, *, live_url: str = "") -> str:
    banner = f'<div class="banner" role="alert">{esc(frame.banner)}</div>' if frame.banner else ""
    logout = (
        f'<form method="post" action="/logout" class="inline"><input type="hidden" name="csrf_token"'
        f' value="{esc(frame.csrf)}"><button type="submit">Sign out</button></form>'
        if frame.signed_in_by_form
        else ""
    )
    live = f' data-live="{esc(live_url)}"' if live_url else ""
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="csrf-token" content="{esc(frame.csrf)}">'
        f"<title>{esc(title)} · AIOps console</title>"
        f'<link rel="stylesheet" href="/static/console.css?v={ASSET_VERSION}">'
        f'<link rel="icon" href="data:,">'
        f'<script src="/static/console.js?v={ASSET_VERSION}" defer></script>'
        f"</head><body{live}>"
        '<header><a class="brand" href="/">AIOps console</a><nav><a href="/">Alerts &amp; incidents</a>'
        f'<a href="/stats">Stats</a></nav><span class="user">{esc(frame.user)}{logout}</span></header>'
        f"{banner}<main>{body}</main></body></html>"
    )


def login_page(error: str, next_path: str, csrf: str, *, token: bool, users: bool) -> str:
    fields = []
    if users:
        fields.append(
            '<label>User <input name="user" autocomplete="username"></label>'
            '<label>Password <input name="password" type="password" autocomplete="current-password"></label>'
        )
    if token:
        fields.append('<label>Token <input name="token" type="password" autocomplete="off"></label>')
    problem = f'<p class="error" role="alert">{esc(error)}</p>' if error else ""
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Sign in · AIOps console</title>'
        f'<link rel="stylesheet" href="/static/console.css?v={ASSET_VERSION}"><link rel="icon" href="data:,">'
        '</head><body><main class="login"><h1>Sign in</h1>'
        f'{problem}<form method="post" action="/login">'
        f'<input type="hidden" name="csrf_token" value="{esc(csrf)}">'
        f'<input type="hidden" name="next" value="{esc(next_path)}">{"".join(fields)}'
        '<button type="submit">Sign in</button></form></main></body></html>'
    )
