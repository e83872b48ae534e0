"""console: the web UI and JSON API over the history, live from the stream (docs/console.md).

_app          the pages' routes and sign-in; _api: the JSON API and the live stream (SSE)
_guard        the middleware: who is asking, may they, CSRF, security headers
_access       credentials, login cookies and CSRF tokens (constant-time, nothing secret rendered)
_store        the history database, opened lazily and reopened after a failure (the banner)
_live         core NATS subscriptions fanned out to open pages; recent messages for a down database
_filters      GET parameters to history queries, and the same test for live rows
_rows         a list row from the history or from a message; its HTML
_index, _detail, _evidence, _stats   the pages (pure: data in, escaped HTML out)
_charts       inline SVG: metric lines with the alert's start, member timelines, bars
_html         the page frame and escaping
_feedback, _slack_actions   verdicts from the console, the API and Slack (registered by _app)
_serve        start, serve, stop
"""

from services.console._access import Access, User, hash_password
from services.console._app import Console
from services.console._serve import run_console, serve_console
from services.console._settings import ConsoleSettings

__all__ = ["Access", "Console", "ConsoleSettings", "User", "hash_password", "run_console", "serve_console"]
