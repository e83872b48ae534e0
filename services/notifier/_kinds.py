"""The registry of destination kinds: the one place a new kind is added (see docs/development.md)."""

from __future__ import annotations

from services.notifier import _jira, _log, _opsgenie, _pagerduty, _slack, _teams, _webhook
from services.notifier._kind import DestinationKind
from services.runtime import ConfigError

# In this order the plain environment variables make their destinations.
KINDS: dict[str, DestinationKind] = {
    kind.name: kind
    for kind in (
        _slack.KIND,
        _webhook.KIND,
        _pagerduty.KIND,
        _teams.KIND,
        _opsgenie.KIND,
        _jira.KIND,
        _log.KIND,
    )
}


def kind_named(name: str) -> DestinationKind:
    try:
        return KINDS[name]
    except KeyError:
        raise ConfigError(f"unknown destination type {name!r} (known: {', '.join(KINDS)})") from None
