"""The routes file: which alerts go to which destinations.

Routes are tried in order; every condition of a route's ``match`` must hold (a
list means "any of"). The first matching route stops the search unless it says
``continue: true``; when nothing stopped it, the ``default`` route applies too.
``${NAME}`` in a destination's values reads the environment, so secrets stay
out of the file. A destination's keys are those of its kind (``_kinds.py``).

Incident events are routed too, as an alert whose labels are the incident's scope, severity and
root alert name (``_incident_view.py``). ``match: {kind: incident}`` takes incidents only,
``kind: alert`` per-alert messages only, including those grouped into an incident (which a route
without ``kind`` leaves to the incident's own messages, and the default route too).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union

import msgspec
import yaml

import schemas
from services.notifier._destinations import Destination, validate
from services.notifier._kind import DestinationSpec
from services.notifier._kinds import KINDS
from services.runtime import ConfigError

# What ``${NAME}`` may name: a variable name as a shell writes it.
ENV_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_ENV_RE = re.compile(rf"\$\{{({ENV_NAME})\}}")
# The keys of a destination that hold its secret: ``secret``, or its kind's own (``routing_key``).
SECRET_KEYS = frozenset({"secret", *(kind.secret_option for kind in KINDS.values() if kind.secret_option)})

OneOrMany = str | list[str]
# What is routed: an alert on its own, an alert its incident's messages carry, an incident event.
Routed = Literal["alert", "grouped", "incident"]


class Match(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    labels: dict[str, OneOrMany] = {}
    labels_regex: dict[str, str] = {}
    severity: OneOrMany = []
    category: list[schemas.Category] | schemas.Category = []
    analyzer: schemas.Analyzer | None = None
    degraded: bool | None = None
    status: schemas.AlertStatus | None = None
    kind: Literal["alert", "incident"] | None = None


class RouteSpec(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    name: str = ""
    match: Match = Match()
    to: list[str]
    continue_: bool = msgspec.field(default=False, name="continue")
    flap_guard_seconds: float | None = None


class DefaultRoute(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    to: list[str] = []
    flap_guard_seconds: float | None = None


class RoutesFile(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    destinations: dict[str, DestinationSpec]
    routes: list[RouteSpec] = []
    default: DefaultRoute = DefaultRoute()
    flap_guard_seconds: float = 0.0


# Each destination is read as the spec of its ``type``: unknown types and other kinds' keys are refused.
_SPECS: Any = Union[tuple(kind.spec for kind in KINDS.values())]  # noqa: UP007
_ROUTES_FILE: Any = msgspec.defstruct(
    "RoutesFile",
    [("destinations", dict[str, _SPECS])],
    bases=(RoutesFile,),
    kw_only=True,
    frozen=True,
    forbid_unknown_fields=True,
)


@dataclass(frozen=True)
class Target:
    """One destination an alert goes to, with the quiet period of the route that chose it."""

    destination: Destination
    flap_guard_seconds: float
    route: str


def _as_set(value: OneOrMany | list[schemas.Category]) -> frozenset[str]:
    return frozenset([value] if isinstance(value, str) else value)


@dataclass(frozen=True)
class Route:
    name: str
    targets: tuple[Target, ...]
    labels: tuple[tuple[str, frozenset[str]], ...] = ()
    labels_regex: tuple[tuple[str, re.Pattern[str]], ...] = ()
    severity: frozenset[str] = frozenset()
    category: frozenset[str] = frozenset()
    analyzer: str | None = None
    degraded: bool | None = None
    status: str | None = None
    kind: str | None = None
    continue_: bool = False

    def takes(self, routed: Routed) -> bool:
        if self.kind is None:
            return routed != "grouped"
        return self.kind == routed or (self.kind == "alert" and routed == "grouped")

    def matches(self, message: schemas.AnalyzedAlert, routed: Routed = "alert") -> bool:
        labels, analysis = message.alert.labels, message.analysis
        return (
            self.takes(routed)
            and all(labels.get(key) in wanted for key, wanted in self.labels)
            and all(pattern.fullmatch(labels.get(key, "")) for key, pattern in self.labels_regex)
            and (not self.severity or labels.get("severity", "") in self.severity)
            and (not self.category or analysis.category in self.category)
            and (self.analyzer is None or analysis.analyzer == self.analyzer)
            and (self.degraded is None or analysis.degraded == self.degraded)
            and (self.status is None or message.alert.status == self.status)
        )


@dataclass(frozen=True)
class Router:
    routes: tuple[Route, ...]
    default: tuple[Target, ...]

    def targets(self, message: schemas.AnalyzedAlert, routed: Routed = "alert") -> list[Target]:
        """Each destination once, with the options of the first route that chose it."""
        chosen: dict[str, Target] = {}
        for route in self.routes:
            if not route.matches(message, routed):
                continue
            for target in route.targets:
                chosen.setdefault(target.destination.name, target)
            if not route.continue_:
                return list(chosen.values())
        # Nothing stopped the search: the default route is the last one, matching all but grouped alerts.
        for target in self.default if routed != "grouped" else ():
            chosen.setdefault(target.destination.name, target)
        return list(chosen.values())

    @property
    def wants_incidents(self) -> bool:
        """Whether any route (or the default) can send an incident event anywhere."""
        routes = [r for r in self.routes if r.targets and r.takes("incident")]
        return bool(routes or self.default)

    @property
    def destinations(self) -> list[Destination]:
        seen: dict[str, Destination] = {}
        for target in (*self.default, *(t for r in self.routes for t in r.targets)):
            seen.setdefault(target.destination.name, target.destination)
        return list(seen.values())


def single_route(destinations: list[Destination], flap_guard_seconds: float) -> Router:
    """What the plain environment variables mean: every destination gets every alert."""
    return Router(routes=(), default=tuple(Target(d, flap_guard_seconds, "default") for d in destinations))


def references(value: str) -> list[str]:
    """The variables ``${NAME}`` in a destination's value reads from the environment."""
    return _ENV_RE.findall(value)


def _expand(value: str, where: str, environ: dict[str, str]) -> str:
    def lookup(found: re.Match[str]) -> str:
        name = found.group(1)
        if name not in environ:
            raise ConfigError(f"{where} uses ${{{name}}}, which is not set")
        return environ[name]

    return _ENV_RE.sub(lookup, value)


def _destination(name: str, spec: DestinationSpec, environ: dict[str, str]) -> Destination:
    where = f"destination {name!r}"
    kind = KINDS[str(type(spec).__struct_config__.tag)]
    expanded = msgspec.structs.replace(
        spec,
        **{
            field: _expand(value, where, environ)
            for field in spec.__struct_fields__
            if isinstance(value := getattr(spec, field), str)
        },
    )
    own_secret = getattr(expanded, kind.secret_option) if kind.secret_option else ""
    return validate(
        Destination(
            name=name,
            type=kind.name,
            url=expanded.url or kind.default_url,
            secret=own_secret or expanded.secret,
            send_resolved=expanded.send_resolved,
            rate_per_second=expanded.rate_per_second,
            options=expanded,
        )
    )


def _targets(names: list[str], guard: float, route: str, known: dict[str, Destination]) -> tuple[Target, ...]:
    missing = [n for n in names if n not in known]
    if missing:
        raise ConfigError(f"route {route!r} sends to unknown destination(s) {', '.join(missing)}")
    return tuple(Target(known[n], guard, route) for n in names)


def _compile(index: int, spec: RouteSpec, guard: float, known: dict[str, Destination]) -> Route:
    name = spec.name or f"route-{index}"
    patterns = []
    for key, pattern in spec.match.labels_regex.items():
        try:
            patterns.append((key, re.compile(pattern)))
        except re.error as exc:
            raise ConfigError(f"route {name!r}: labels_regex {key} is not a valid regex: {exc}") from exc
    own_guard = guard if spec.flap_guard_seconds is None else spec.flap_guard_seconds
    return Route(
        name=name,
        targets=_targets(spec.to, own_guard, name, known),
        labels=tuple((k, _as_set(v)) for k, v in spec.match.labels.items()),
        labels_regex=tuple(patterns),
        severity=_as_set(spec.match.severity),
        category=_as_set(spec.match.category),
        analyzer=spec.match.analyzer,
        degraded=spec.match.degraded,
        status=spec.match.status,
        kind=spec.match.kind,
        continue_=spec.continue_,
    )


def parse_routes(text: str, source: str = "routes file", environ: dict[str, str] | None = None) -> Router:
    """Build a Router from YAML text; every mistake is a ConfigError naming where it is."""
    env = dict(os.environ) if environ is None else environ
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source} is not valid YAML: {exc}") from exc
    try:
        spec = msgspec.convert(raw, _ROUTES_FILE)
    except msgspec.ValidationError as exc:
        hint = f" (destination types: {', '.join(KINDS)})" if str(exc).endswith(".type`") else ""
        raise ConfigError(f"{source}: {exc}{hint}") from exc
    known = {name: _destination(name, d, env) for name, d in spec.destinations.items()}
    guard = spec.flap_guard_seconds
    routes = tuple(_compile(i, r, guard, known) for i, r in enumerate(spec.routes, start=1))
    default_guard = guard if spec.default.flap_guard_seconds is None else spec.default.flap_guard_seconds
    default = _targets(spec.default.to, default_guard, "default", known)
    return Router(routes=routes, default=default)


def load_routes(path: str) -> Router:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"ROUTES_FILE {path}: cannot read ({exc.strerror})") from exc
    return parse_routes(text, f"ROUTES_FILE {path}")
