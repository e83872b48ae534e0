"""Jira's REST API, locally: Cloud (v3, ADF, basic auth) and Data Center (v2, plain text, Bearer PAT).

The few endpoints the notifier uses, answering as Atlassian documents them:
``GET project/{key}``, ``POST issue`` (201 ``{"id", "key", "self"}``), ``POST
issue/{key}/comment``, ``GET``/``POST issue/{key}/transitions`` (204), ``GET
issue/{key}?fields=status``. Errors: 400 ``{"errorMessages": [], "errors": {field: text}}``,
401 without a body, 404 ``{"errorMessages": [...]}``.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.webhook import FakeHttpServer, Received, Reply

ISSUE_TYPES = {"Task", "Bug", "Incident"}
# A small workflow: To Do -> In Progress -> Done, and Reopen from Done.
TRANSITIONS = {
    "To Do": [("11", "Start Progress", "In Progress"), ("31", "Done", "Done")],
    "In Progress": [("31", "Done", "Done")],
    "Done": [("41", "Reopen", "To Do")],
}
UNAUTHORIZED = Reply(401, "", content_type="text/plain")
THROTTLED = Reply(429, "Rate limit exceeded.", {"Retry-After": "11"})
SERVER_ERROR = Reply(
    503, json.dumps({"errorMessages": ["Service unavailable"]}), content_type="application/json"
)


def _json(status: int, body: Any) -> Reply:
    return Reply(status, json.dumps(body), content_type="application/json")


def _errors(status: int, messages: list[str], errors: dict[str, str] | None = None) -> Reply:
    return _json(status, {"errorMessages": messages, "errors": errors or {}})


def adf_errors(doc: Any) -> list[str]:
    """The shape Jira Cloud checks: a doc of version 1, every text node non-empty."""
    if not isinstance(doc, dict) or doc.get("type") != "doc" or doc.get("version") != 1:
        return ["Operation value must be an Atlassian Document (see the Atlassian Document Format)"]
    problems = []

    def walk(node: Any) -> None:
        if not isinstance(node, dict) or "type" not in node:
            problems.append("every node needs a type")
            return
        if node["type"] == "text" and not node.get("text"):
            problems.append("text nodes must not be empty")
        for child in node.get("content", []):
            walk(child)

    for child in doc.get("content", []):
        walk(child)
    return problems


@dataclass
class Issue:
    key: str
    fields: dict[str, Any]
    status: str = "To Do"
    comments: list[Any] = field(default_factory=list)


class FakeJira(FakeHttpServer):
    def __init__(self, email: str = "bot@example.org", token: str = "jira-token-0001") -> None:
        super().__init__()
        self.email, self.token = email, token
        self.projects = {"OPS"}
        self.issues: dict[str, Issue] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _authorized(self, request: Received, version: str) -> bool:
        given = request.headers.get("Authorization", "")
        if version == "3":
            basic = base64.b64encode(f"{self.email}:{self.token}".encode()).decode()
            return given == f"Basic {basic}"
        return given == f"Bearer {self.token}"

    def default_reply(self, request: Received) -> Reply:
        parts = request.path.strip("/").split("/")
        if parts[:2] != ["rest", "api"] or len(parts) < 4 or parts[2] not in ("2", "3"):
            return _errors(404, ["Not found"])
        version, rest = parts[2], parts[3:]
        if not self._authorized(request, version):
            return UNAUTHORIZED
        body = json.loads(request.body) if request.body else {}
        if rest[0] == "project" and request.method == "GET":
            if rest[1] not in self.projects:
                return _errors(404, [f"No project could be found with key '{rest[1]}'."])
            return _json(200, {"key": rest[1], "name": f"Project {rest[1]}"})
        if rest == ["issue"] and request.method == "POST":
            return self._create(version, body.get("fields", {}))
        issue = self.issues.get(rest[1]) if len(rest) > 1 and rest[0] == "issue" else None
        if issue is None:
            return _errors(404, ["Issue does not exist or you do not have permission to see it."])
        return self._on_issue(version, issue, rest[2:], request.method, body)

    def _create(self, version: str, fields: dict[str, Any]) -> Reply:
        errors = {}
        if fields.get("project", {}).get("key") not in self.projects:
            errors["project"] = "valid project is required"
        if fields.get("issuetype", {}).get("name") not in ISSUE_TYPES:
            errors["issuetype"] = "Specify a valid issue type"
        summary = fields.get("summary", "")
        if not summary or len(summary) > 255 or "\n" in summary:
            errors["summary"] = "Summary must be one line of at most 255 characters."
        if any(" " in label for label in fields.get("labels", [])):
            errors["labels"] = "The label contains spaces which is invalid."
        description = fields.get("description")
        if version == "3" and adf_errors(description):
            errors["description"] = adf_errors(description)[0]
        if version == "2" and not isinstance(description, str):
            errors["description"] = "Operation value must be a string"
        if errors:
            return _errors(400, [], errors)
        key = f"{fields['project']['key']}-{len(self.issues) + 1}"
        self.issues[key] = Issue(key, fields)
        return _json(
            201, {"id": str(10000 + len(self.issues)), "key": key, "self": f"{self.url}/issue/{key}"}
        )

    def _on_issue(self, version: str, issue: Issue, rest: list[str], method: str, body: Any) -> Reply:
        if rest == [] and method == "GET":
            category = "done" if issue.status == "Done" else "new"
            status = {"name": issue.status, "statusCategory": {"key": category}}
            return _json(200, {"key": issue.key, "fields": {"status": status}})
        if rest == ["comment"] and method == "POST":
            text = body.get("body")
            if (version == "3" and adf_errors(text)) or (version == "2" and not isinstance(text, str)):
                return _errors(400, [], {"comment": "Comment body is not valid"})
            issue.comments.append(text)
            return _json(201, {"id": str(len(issue.comments))})
        offered = TRANSITIONS[issue.status]
        if rest == ["transitions"] and method == "GET":
            listed = [{"id": i, "name": n, "to": {"name": to}} for i, n, to in offered]
            return _json(200, {"expand": "transitions", "transitions": listed})
        if rest == ["transitions"] and method == "POST":
            wanted = body.get("transition", {}).get("id")
            chosen = next((to for i, _, to in offered if i == wanted), None)
            if chosen is None:
                return _errors(400, [f"Transition id '{wanted}' is not valid for this issue."])
            issue.status = chosen
            return Reply(204, "")
        return _errors(404, ["Not found"])
