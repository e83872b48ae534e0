"""Jira: one issue per firing episode, a comment when it is re-analysed differently, a transition on resolve.

Jira Cloud (REST v3: an Atlassian Document Format description, basic auth with
email and API token) or Data Center (REST v2: plain text, a personal access token
as Bearer). The delivery ledger keeps the issue key per episode, so a redelivered
firing never opens a second issue, a re-fire whose category or severity changed
comments on it, and the resolution finds it again.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import quote

import aiohttp
import msgspec
import orjson
from loguru import logger

from services.notifier._clip import clip
from services.notifier._http import Answer, Request, judge_http, post
from services.notifier._jira_document import Block, adf, blocks, plain, update_blocks
from services.notifier._kind import (
    JSON_HEADERS,
    Destination,
    DestinationKind,
    DestinationSpec,
    Exchange,
    Result,
    needs,
)
from services.notifier._ledger import episode_record_key
from services.notifier._view import AlertView
from services.runtime import ConfigError

SUMMARY_LIMIT = 255
FULL_ANSWER = 1_000_000
_ISSUE_KEY = re.compile(r'"key"\s*:\s*"([A-Za-z][A-Za-z0-9_]*-\d+)"')


class JiraSpec(DestinationSpec, tag="jira", kw_only=True, frozen=True):
    api: Literal["cloud", "datacenter"] = "cloud"
    email: str = ""
    token: str = ""
    project: str = ""
    issue_type: str = "Task"
    labels: list[str] = []
    # Any other fields of the new issue, as Jira's REST API spells them (priority, components...).
    fields: dict[str, Any] = {}
    resolve_transition: str = "Done"


class IssueRecord(msgspec.Struct, kw_only=True, frozen=True):
    issue: str
    category: str
    severity: str
    resolved: bool = False


def _spec(destination: Destination) -> JiraSpec:
    return destination.options if isinstance(destination.options, JiraSpec) else JiraSpec()


def _request(d: Destination, path: str, body: Any = None, method: str = "POST") -> Request:
    spec = _spec(d)
    if spec.api == "cloud":
        basic = base64.b64encode(f"{spec.email}:{d.secret}".encode()).decode()
        auth = f"Basic {basic}"
    else:
        auth = f"Bearer {d.secret}"
    version = "3" if spec.api == "cloud" else "2"
    url = f"{d.url.rstrip('/')}/rest/api/{version}/{path}"
    data = b"" if body is None else orjson.dumps(body)
    headers = {**JSON_HEADERS, "Accept": "application/json", "Authorization": auth}
    return Request(url, data, headers, method=method, answer_limit=FULL_ANSWER if method == "GET" else 300)


def _rich(d: Destination, document: list[Block]) -> Any:
    return adf(document) if _spec(d).api == "cloud" else plain(document)


def issue_fields(d: Destination, v: AlertView) -> dict[str, Any]:
    spec = _spec(d)
    title = " ".join(f"[{v.severity.upper()}] {v.name}: {v.analysis.summary}".split())
    return {
        **spec.fields,
        "project": {"key": spec.project},
        "issuetype": {"name": spec.issue_type},
        "summary": clip(title, SUMMARY_LIMIT),
        "description": _rich(d, blocks(v)),
        "labels": spec.labels,
    }


class Transition(msgspec.Struct, frozen=True):
    id: str
    name: str


class Transitions(msgspec.Struct, frozen=True):
    transitions: list[Transition] = []


class StatusCategory(msgspec.Struct, frozen=True):
    key: str = ""


class Status(msgspec.Struct, frozen=True):
    category: StatusCategory = msgspec.field(default=StatusCategory(), name="statusCategory")


class IssueStatus(msgspec.Struct, frozen=True):
    status: Status = Status()


class IssueWithStatus(msgspec.Struct, frozen=True):
    fields: IssueStatus = IssueStatus()


def _unreadable(answer: Answer) -> Result:
    """A 2xx that is not the JSON Jira documents (a proxy's page, say): try again later."""
    return Result("retry", Answer(0, "", answer.latency, error="Jira's answer was not the JSON it documents"))


async def _resolve(x: Exchange, d: Destination, issue: str) -> Result:
    wanted = _spec(d).resolve_transition
    answer = await x.call(_request(d, f"issue/{quote(issue)}/transitions", method="GET"))
    if judge_http(answer) != "delivered":
        return Result(judge_http(answer), answer)
    try:
        offered = msgspec.json.decode(answer.body, type=Transitions).transitions
    except msgspec.DecodeError:
        return _unreadable(answer)
    chosen = next((t for t in offered if t.name.casefold() == wanted.casefold()), None)
    if chosen is None:
        status = await x.call(_request(d, f"issue/{quote(issue)}?fields=status", method="GET"))
        if judge_http(status) == "delivered" and _category(status) == "done":
            return Result("skipped")  # someone closed it already
        names = ", ".join(t.name for t in offered) or "none"
        why = f"{issue} offers no transition named {wanted!r} (resolve_transition); it offers: {names}"
        return Result("rejected", Answer(0, "", answer.latency, error=why))
    done = await x.call(_request(d, f"issue/{quote(issue)}/transitions", {"transition": {"id": chosen.id}}))
    return Result(judge_http(done), done)


def _category(answer: Answer) -> str:
    try:
        return msgspec.json.decode(answer.body, type=IssueWithStatus).fields.status.category.key
    except msgspec.DecodeError:
        return ""


async def converse(x: Exchange, d: Destination, v: AlertView) -> Result:
    key = episode_record_key(x.message, d.name)
    known = await x.ledger.recall(key, IssueRecord)
    if v.resolved:
        if known is None:
            return Result("skipped")  # no issue was opened for this episode
        if known.resolved:
            return Result("duplicate")
        result = await _resolve(x, d, known.issue)
        if result.outcome in ("delivered", "skipped"):
            await x.ledger.record(key, msgspec.structs.replace(known, resolved=True))
        return result
    said = IssueRecord(issue="", category=v.analysis.category, severity=v.severity)
    if known is not None and (known.category, known.severity) == (said.category, said.severity):
        return Result("duplicate")
    if known is not None:
        body = {"body": _rich(d, update_blocks(v, known.category, known.severity))}
        answer = await x.call(_request(d, f"issue/{quote(known.issue)}/comment", body))
        issue = known.issue
    else:
        answer = await x.call(_request(d, "issue", {"fields": issue_fields(d, v)}))
        found = _ISSUE_KEY.search(answer.body)
        issue = found.group(1) if found else ""
        if judge_http(answer) == "delivered" and not issue:
            return _unreadable(answer)
    verdict = judge_http(answer)
    if verdict == "delivered":
        await x.ledger.record(key, msgspec.structs.replace(said, issue=issue))
    return Result(verdict, answer)


def _check(d: Destination, names: Mapping[str, str]) -> None:
    spec = _spec(d)
    if not spec.project:
        raise needs(d, "project", names, "a project key")
    if spec.api == "cloud" and not spec.email:
        raise needs(d, "email", names, "the email of the API token's account (or api: datacenter)")
    if any(not label or any(c.isspace() for c in label) for label in spec.labels):
        raise ConfigError(f"destination {d.name!r}: labels must be single words (labels)")


async def _probe(session: aiohttp.ClientSession, d: Destination, limit_seconds: float) -> None:
    """The project must exist and the credentials open it; no answer is only a warning."""
    spec = _spec(d)
    answer = await post(session, _request(d, f"project/{quote(spec.project)}", method="GET"), limit_seconds)
    if answer.status in (401, 403):
        which = "token and email" if spec.api == "cloud" else "token"
        raise ConfigError(
            f"destination {d.name!r}: Jira refused the credentials (HTTP {answer.status}); check {which}"
        )
    if answer.status == 404:
        raise ConfigError(f"destination {d.name!r}: Jira has no project {spec.project!r} (project)")
    if judge_http(answer) != "delivered":
        shown = answer.describe()
        logger.warning("{}: Jira did not confirm project {} at start-up ({})", d.name, spec.project, shown)


KIND = DestinationKind(
    name="jira",
    spec=JiraSpec,
    # Jira Cloud's rate limits are per account and generous; a few calls per second stays clear of them.
    default_rate=2.0,
    secret_option="token",
    check=_check,
    converse=converse,
    probe=_probe,
)
