from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from services.console._slack_actions import SlackActionSettings
from services.runtime import NatsSettings, doc, with_parts


class GeneralSettings(NatsSettings, kw_only=True, frozen=True):
    console_host: Annotated[str, doc("Address the console listens on")] = "0.0.0.0"
    console_port: Annotated[int, doc("Port of the console's pages, /api and health endpoints")] = 8080
    database_url: Annotated[
        str, doc("The history database the console reads (the history service writes it)", secret=True)
    ] = "sqlite:///.data/history.db"
    console_auth_token: Annotated[
        str,
        doc(
            "When set, 'Authorization: Bearer <token>' or the login form with this token lets a user in",
            secret=True,
        ),
    ] = ""
    console_basic_auth: Annotated[
        str,
        doc(
            "Users for basic auth and the login form, comma-separated 'user:password' or"
            " 'user:pbkdf2_sha256$<iterations>$<salt>$<hash>' (docs/console.md makes one)",
            secret=True,
        ),
    ] = ""
    console_trusted_proxies: Annotated[
        str,
        doc(
            "Addresses or networks (comma-separated) of an authenticating proxy whose X-Forwarded-User"
            " header names the user"
        ),
    ] = ""
    console_feedback_users: Annotated[
        str,
        doc("Users who may give feedback, comma-separated; '*' lets every signed-in user; others read only"),
    ] = "*"
    console_session_secret: Annotated[
        str,
        doc(
            "Key signing login cookies and CSRF tokens; empty: a random one per start (sign in again)",
            secret=True,
        ),
    ] = ""
    console_session_hours: Annotated[float, doc("How long a login cookie is valid")] = 12.0
    console_live_buffer: Annotated[
        int, doc("Recent analyses kept in memory: served while the database is down")
    ] = 500
    grafana_url: Annotated[str, doc("Grafana base URL; adds an Explore link to alert pages")] = ""
    grafana_datasource_uid: Annotated[str, doc("Prometheus data source uid for the Explore link")] = ""
    alertmanager_url: Annotated[
        str, doc("Alertmanager URL for silence links when the alert carries no externalURL")
    ] = ""


if TYPE_CHECKING:
    # Slack's signing secret is read by name from its part (SlackActionSettings.of).
    ConsoleSettings = GeneralSettings
else:
    ConsoleSettings = with_parts("ConsoleSettings", GeneralSettings, (SlackActionSettings,))
