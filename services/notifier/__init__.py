"""The notifier stage: a sink that turns each analysis into a message an on-call engineer can act on."""

from services.notifier._build import SPEC, build, router_from
from services.notifier._destinations import Destination
from services.notifier._ledger import Ledger, delivery_key, open_ledger
from services.notifier._logline import summary_lines
from services.notifier._metrics import NotifierMetrics
from services.notifier._notifier import Notifier
from services.notifier._pagerduty import pagerduty_event
from services.notifier._routes import Router, Target, load_routes, parse_routes, single_route
from services.notifier._settings import NotifierSettings
from services.notifier._signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature
from services.notifier._slack import slack_message
from services.notifier._teams import teams_message
from services.notifier._view import AlertView, LinkSettings, view

__all__ = [
    "SIGNATURE_HEADER",
    "SPEC",
    "TIMESTAMP_HEADER",
    "AlertView",
    "Destination",
    "Ledger",
    "LinkSettings",
    "Notifier",
    "NotifierMetrics",
    "NotifierSettings",
    "Router",
    "Target",
    "build",
    "delivery_key",
    "load_routes",
    "open_ledger",
    "pagerduty_event",
    "parse_routes",
    "router_from",
    "signature",
    "single_route",
    "slack_message",
    "summary_lines",
    "teams_message",
    "view",
]
