"""Files the stages read (a routes file, rules, a topology, enrichment packs), given in ``files:``.

Each is keyed by the setting that names it and rendered as a ConfigMap, mounted read-only under
``/etc/aiops`` into exactly the stages whose settings include that variable (read from the code, as
``_stages`` reads every setting), with the variable pointing at the mount. A ConfigMap, never a
Secret: what a routes file needs to keep secret it reads as ``${NAME}`` from the notifier's
environment, which ``stages.<stage>.secretKeys`` fills from the Secret.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import yaml

from infra.kubernetes._stages import Stage, stages
from services.notifier._routes import SECRET_KEYS, references

if TYPE_CHECKING:
    from infra.kubernetes._values import Values

FILES_ROOT = "/etc/aiops"
# What a ConfigMap holds at most; a bigger one is refused by the API server.
CONFIG_MAP_BYTES = 1 << 20
# A ConfigMap key, which is the file's name in the mounted folder.
_FILE_NAME = re.compile(r"[-._a-zA-Z0-9]+")
# The rules and packs folders are read for these alone (``*.yaml``, ``*.yml``); anything else is ignored.
_FOLDER_SUFFIXES = (".yaml", ".yml")
# Kinds posting to an incoming webhook whose URL is all it takes to post there.
_CREDENTIAL_URLS = frozenset({"slack", "teams"})


@dataclass(frozen=True)
class FileSetting:
    setting: str
    # The name of the one file mounted; None for a setting naming a folder of YAML files.
    file_name: str | None

    @property
    def volume(self) -> str:
        return self.setting.lower().replace("_", "-")

    @property
    def folder(self) -> str:
        return f"{FILES_ROOT}/{self.volume}"

    @property
    def path(self) -> str:
        return f"{self.folder}/{self.file_name}" if self.file_name else self.folder


FILE_SETTINGS = {
    file.setting: file
    for file in (
        FileSetting("ROUTES_FILE", "routes.yaml"),
        FileSetting("INCIDENT_TOPOLOGY_FILE", "topology.yaml"),
        FileSetting("RULES_DIR", None),
        FileSetting("ENRICHMENT_PACKS_DIR", None),
    )
}


def read_by(values: Values, stage: Stage) -> list[FileSetting]:
    """The files given in the values that this stage reads, in the order given."""
    return [FILE_SETTINGS[setting] for setting in values.files if setting in stage.plain_env]


def contents(values: Values, file: FileSetting) -> dict[str, str]:
    """The ConfigMap's data: file name to contents."""
    given = values.files[file.setting]
    if isinstance(given, str):
        return {str(file.file_name): given}
    return dict(given)


def digest(values: Values, stage: Stage) -> str:
    """A hash of the contents the stage mounts: a change rolls its pods, which read them at start."""
    mounted = {file.setting: contents(values, file) for file in read_by(values, stage)}
    return hashlib.sha256(json.dumps(mounted, sort_keys=True).encode()).hexdigest()[:16]


def _name_problem(setting: str, name: str) -> str:
    if not name.endswith(_FOLDER_SUFFIXES):
        return f"files.{setting}.{name}: the stages read only {' and '.join(_FOLDER_SUFFIXES)} files there"
    # The API server refuses other keys; "..x" is the kubelet's own (its "..data" links).
    if not _FILE_NAME.fullmatch(name) or name.startswith(".."):
        return (
            f"files.{setting}.{name}: a file name here is letters, digits, '-', '_' and '.', not starting"
            " with '..' (a ConfigMap key)"
        )
    return ""


def _given_problems(setting: str, given: str | dict[str, str]) -> list[str]:
    """Whether what is given has the shape its setting reads, fits a ConfigMap and parses as YAML."""
    known = FILE_SETTINGS.get(setting)
    if known is None:
        return [f"files.{setting} is not a file the stages read; one of {', '.join(sorted(FILE_SETTINGS))}"]
    if known.file_name and not isinstance(given, str):
        return [f"files.{setting} names one file: give its contents as text"]
    if not known.file_name and isinstance(given, str):
        return [f"files.{setting} names a folder: give a mapping of file name to contents"]
    named = {str(known.file_name): given} if isinstance(given, str) else given
    found = [problem for name in named if not known.file_name and (problem := _name_problem(setting, name))]
    if sum(len(name) + len(text.encode()) for name, text in named.items()) > CONFIG_MAP_BYTES:
        found.append(f"files.{setting} is over 1 MiB, the most a ConfigMap holds")
    for name, text in named.items():
        try:
            yaml.safe_load(text)
        except yaml.YAMLError as exc:
            where = f"files.{setting}" if known.file_name else f"files.{setting}.{name}"
            found.append(f"{where} is not valid YAML ({exc})")
    return found


def _secret_options(spec: dict[str, Any]) -> frozenset[str]:
    """The destination's keys holding a secret: ``secret``, its kind's own, and the ``url`` of a kind
    whose incoming-webhook URL is the credential (SLACK_WEBHOOK_URL, TEAMS_WEBHOOK_URL)."""
    return SECRET_KEYS | ({"url"} if spec.get("type") in _CREDENTIAL_URLS else set())


def _password_written_out(value: str) -> bool:
    """A URL carrying ``user:password@`` whose password is not a ``${NAME}``."""
    try:
        password = urlsplit(value).password
    except ValueError:
        return False
    return password is not None and password != "" and not references(password)


def _routes_problems(text: str, stage: Stage, environment: set[str], secret_keys: str) -> list[str]:
    """A routes file's secrets are ``${NAME}``s its stage's environment has; never written out."""
    loaded: Any = yaml.safe_load(text)
    destinations = loaded.get("destinations") if isinstance(loaded, dict) else None
    if not isinstance(destinations, dict):
        return []  # not a routes file the notifier would take: it says why at start
    found = []
    for name, spec in destinations.items():
        secret = _secret_options(spec) if isinstance(spec, dict) else SECRET_KEYS
        for key, value in (spec or {}).items() if isinstance(spec, dict) else ():
            if not isinstance(value, str):
                continue
            named = references(value)
            if key in secret and value != "".join(f"${{{variable}}}" for variable in named):
                found.append(
                    f"files.ROUTES_FILE: destination {name!r} writes out its {key}; write ${{NAME}} and"
                    f" name NAME in {secret_keys}"
                )
            elif _password_written_out(value):
                found.append(
                    f"files.ROUTES_FILE: destination {name!r} writes a password in its {key}; write the"
                    f" whole URL as ${{NAME}} and name NAME in {secret_keys}"
                )
            found += [
                f"files.ROUTES_FILE: destination {name!r} reads ${{{variable}}}, which {stage.name} does not"
                f" get; name it in {secret_keys}"
                for variable in named
                if variable not in environment
            ]
    return found


def file_problems(values: Values) -> list[str]:
    found = [
        problem for setting, given in values.files.items() for problem in _given_problems(setting, given)
    ]
    if found:
        return found
    for name, stage_values in values.stages.items():
        stage = stages()[name]
        for key in {**values.env, **stage_values.env}:
            if key in values.files and key in stage.plain_env:
                where = f"stages.{name}.env.{key}" if key in stage_values.env else f"env.{key}"
                found.append(f"{where}: the renderer points it at files.{key}; leave it unset")
        routes = values.files.get("ROUTES_FILE")
        if isinstance(routes, str) and "ROUTES_FILE" in stage.plain_env:
            environment = {*values.env, *stage_values.env, *stage.secret_env, *stage_values.secret_keys}
            found += _routes_problems(routes, stage, environment, f"stages.{name}.secretKeys")
    return found
