"""Settings as data: one frozen Struct per service, read from the environment here only.

A field ``foo_bar`` is read from ``FOO_BAR``; ``Meta(extra={"aliases": [...]})`` adds
other names (the original design's), ``extra={"secret": True}`` masks the value in
``--help``, start-up logs and errors. A plug-in (an enrichment source, a destination) declares
its settings in its own module, a ``SettingsPart`` composed into its service's Struct (``_parts``).
"""

from __future__ import annotations

import os
import re
import sys
import typing
from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

import msgspec

from services.runtime._errors import CONFIG_ERROR_EXIT, ConfigError

S = TypeVar("S", bound=msgspec.Struct)

MASK = "********"


def _meta(annotation: Any) -> msgspec.Meta | None:
    for extra in getattr(annotation, "__metadata__", ()):
        if isinstance(extra, msgspec.Meta):
            return extra
    return None


class SettingInfo(msgspec.Struct, frozen=True):
    field: str
    env: tuple[str, ...]
    description: str
    default: Any
    secret: bool
    type_name: str


def describe(settings_type: type[msgspec.Struct]) -> list[SettingInfo]:
    hints = typing.get_type_hints(settings_type, include_extras=True)
    infos = []
    for field in msgspec.structs.fields(settings_type):
        meta = _meta(hints[field.name])
        extra = (meta.extra if meta else None) or {}
        names = (field.name.upper(), *extra.get("aliases", ()))
        default = field.default if field.default is not msgspec.NODEFAULT else None
        base = typing.get_args(hints[field.name])[0] if meta else hints[field.name]
        infos.append(
            SettingInfo(
                field=field.name,
                env=names,
                description=(meta.description if meta else None) or "",
                default=default,
                secret=bool(extra.get("secret")),
                type_name=getattr(base, "__name__", str(base)),
            )
        )
    return infos


def _parse_bool(raw: str, name: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"{name} must be true or false")


def load(settings_type: type[S], environ: Mapping[str, str] | None = None) -> S:
    """Build settings from the environment; raises ConfigError naming the bad variable."""
    env = os.environ if environ is None else environ
    hints = typing.get_type_hints(settings_type, include_extras=True)
    values: dict[str, Any] = {}
    for info in describe(settings_type):
        found = next((name for name in info.env if env.get(name) not in (None, "")), None)
        if found is None:
            continue
        raw = env[found]
        annotation = hints[info.field]
        base = typing.get_args(annotation)[0] if _meta(annotation) else annotation
        try:
            if base is bool:
                values[info.field] = _parse_bool(raw, found)
            elif typing.get_origin(base) in (list, tuple):
                parts = [part.strip() for part in raw.split(",") if part.strip()]
                values[info.field] = msgspec.convert(parts, base, strict=False)
            else:
                values[info.field] = msgspec.convert(raw, base, strict=False)
        except (msgspec.ValidationError, ValueError, TypeError) as exc:
            shown = "" if info.secret else f" (got {raw!r})"
            raise ConfigError(f"{found} must be a {info.type_name}{shown}") from exc
    try:
        return msgspec.convert(values, settings_type, strict=False)
    except msgspec.ValidationError as exc:
        # msgspec names the field ($.field); map it back to the variable.
        message = str(exc)
        for info in describe(settings_type):
            if f"$.{info.field}" in message:
                raise ConfigError(f"{info.env[0]}: {message.split(' - ')[0]}") from exc
        raise ConfigError(message) from exc


# The password of a URL's userinfo (nats://user:password@host, https://user:token@prometheus), in any
# setting: NATS_URL is the only place a NATS user's password can be given, and a URL may carry one.
# The password runs to the last "@" before the host, as URL parsers read it (p@ss is one password).
_URL_PASSWORD = re.compile(r"(\b[A-Za-z][\w+.-]*://[^\s:/@,]*:)[^\s/,]+@")
# A NATS URL's userinfo alone is a token (nats://s3cr3t@host).
_NATS_TOKEN = re.compile(r"(\b(?:nats|tls|wss?)://)[^\s:/,]+@")


def nats_url_shown(nats_url: str) -> str:
    """NATS_URL with each server's password or token masked, read as nats-py reads it: a server
    without a scheme (``aiops:pw@host:4222``) is a nats:// one, its userinfo up to the last "@"."""
    shown = []
    for server in nats_url.split(","):
        scheme, found, rest = server.rpartition("://")
        userinfo, at, host = (rest if found else server).rpartition("@")
        if at:
            user, colon, _ = userinfo.partition(":")
            userinfo = f"{user}:{MASK}" if colon else MASK
        shown.append(f"{scheme}{found}{userinfo}{at}{host}")
    return ",".join(shown)


def without_passwords(value: Any) -> Any:
    """``value`` with the password of every URL in it masked (strings, and lists of them)."""
    if isinstance(value, str):
        return _NATS_TOKEN.sub(rf"\g<1>{MASK}@", _URL_PASSWORD.sub(rf"\g<1>{MASK}@", value))
    if isinstance(value, list):
        return [without_passwords(item) for item in value]
    return value


def masked(settings: msgspec.Struct) -> dict[str, Any]:
    """The settings as a dict with every secret replaced, and every URL's password, for logs and
    ``--help``."""
    shown: dict[str, Any] = {}
    for info in describe(type(settings)):
        value = getattr(settings, info.field)
        if info.secret and value:
            shown[info.env[0]] = MASK
        elif info.field == "nats_url":
            shown[info.env[0]] = nats_url_shown(value)
        else:
            shown[info.env[0]] = without_passwords(value)
    return shown


def masked_changes(settings: msgspec.Struct) -> dict[str, Any]:
    """``masked``, of only the settings whose value is not their default: what a start-up line says."""
    shown = masked(settings)
    changed = {}
    for field, info in zip(msgspec.structs.fields(settings), describe(type(settings)), strict=True):
        default = field.default
        if default is msgspec.NODEFAULT and field.default_factory is not msgspec.NODEFAULT:
            default = field.default_factory()
        if getattr(settings, field.name) != default:
            changed[info.env[0]] = shown[info.env[0]]
    return changed


def help_text(settings_type: type[msgspec.Struct], program: str, summary: str) -> str:
    lines = [f"usage: {program} [--help]", "", summary, "", "Settings (environment variables):"]
    for info in describe(settings_type):
        names = " | ".join(info.env)
        # A default is in the source for anyone to read: shown even for a secret setting.
        default = without_passwords(info.default)
        default_text = "" if default in (None, "", []) else f" [default: {default}]"
        lines.append(f"  {names}")
        lines.append(f"      {info.description}{default_text}")
    return "\n".join(lines)


def load_or_exit(settings_type: type[S], argv: list[str], program: str, summary: str) -> S:
    """The one entry every service uses: ``--help`` prints settings, bad ones exit 2."""
    if any(arg in ("-h", "--help") for arg in argv):
        print(help_text(settings_type, program, summary))
        raise SystemExit(0)
    if argv:
        print(f"{program}: unexpected arguments {argv}; settings come from the environment (see --help)")
        raise SystemExit(CONFIG_ERROR_EXIT)
    try:
        return load(settings_type)
    except ConfigError as exc:
        print(f"{program}: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(CONFIG_ERROR_EXIT) from exc


def doc(description: str, **extra: Any) -> msgspec.Meta:
    """Shorthand for a documented setting: ``Annotated[int, doc("...", aliases=[...])]``."""
    return msgspec.Meta(description=description, extra=extra or None)


__all__ = ["Annotated", "describe", "doc", "help_text", "load", "load_or_exit", "masked"]
