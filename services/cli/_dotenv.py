"""``.env``: the one reader and writer of the settings file ``aiops setup`` writes and ``aiops`` reads.

The syntax is the common ground of docker compose and shells: ``KEY=VALUE`` lines, an optional
``export`` prefix, ``#`` comments (inline after a space on unquoted values), single quotes (literal),
double quotes (``\\n``, ``\\t``, ``\\"``, ``\\\\`` escapes). Values are taken literally: no ``${VAR}``
expansion. A line that is none of these is an error naming the file and the line; the line itself is
not shown, since it may hold a secret.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path

__all__ = [
    "EnvFileError",
    "apply_env_file",
    "default_env_file",
    "parse_env",
    "quote",
    "read_env_file",
    "update_env_file",
]

_ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?(?P<key>[^=\s]+)\s*=\s*(?P<rest>.*)$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
# Written bare: these read the same in compose, shells and here.
_BARE = re.compile(r"^[A-Za-z0-9_./:@%+,=-]*$")


class EnvFileError(ValueError):
    """A line of an env file that is not ``KEY=VALUE``; the message names the file and line."""


def default_env_file() -> Path:
    """``.env`` in the working directory, or the file ``AIOPS_ENV_FILE`` names."""
    return Path(os.environ.get("AIOPS_ENV_FILE") or ".env")


def _value(rest: str, where: str) -> str:
    rest = rest.strip()
    if not rest or rest[0] not in "'\"":
        # An unquoted value ends at a comment that follows whitespace.
        return re.split(r"\s#", rest, maxsplit=1)[0].strip()
    quote, index = rest[0], 1
    chars: list[str] = []
    while index < len(rest):
        char = rest[index]
        if char == quote:
            tail = rest[index + 1 :].strip()
            if tail and not tail.startswith("#"):
                raise EnvFileError(f"{where}: unexpected text after the closing {quote}")
            return "".join(chars)
        if char == "\\" and quote == '"' and index + 1 < len(rest):
            following = rest[index + 1]
            chars.append(_ESCAPES.get(following, "\\" + following))
            index += 2
            continue
        chars.append(char)
        index += 1
    raise EnvFileError(f"{where}: the value's {quote} is not closed on this line")


def _assignment(line: str, where: str) -> tuple[str, str] | None:
    """(key, value) of a line, None for a blank or comment line; EnvFileError otherwise."""
    if not line.strip() or line.lstrip().startswith("#"):
        return None
    found = _ASSIGNMENT.match(line)
    if not found:
        raise EnvFileError(f"{where}: expected KEY=VALUE")
    key = found.group("key")
    if not _NAME.match(key):
        raise EnvFileError(f"{where}: {key!r} is not a variable name (letters, digits and _)")
    return key, _value(found.group("rest"), where)


def _lines(text: str) -> list[str]:
    """Lines split at \n only (str.splitlines also splits at \x85, \u2028 ... which values may hold)."""
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    return lines[:-1] if lines and not lines[-1] else lines


def parse_env(text: str, source: str = ".env") -> dict[str, str]:
    """Every assignment of ``text``; a key assigned twice keeps its last value, as compose does."""
    values: dict[str, str] = {}
    for number, line in enumerate(_lines(text), start=1):
        if (pair := _assignment(line, f"{source}, line {number}")) is not None:
            values[pair[0]] = pair[1]
    return values


def read_env_file(path: Path) -> dict[str, str]:
    """The file's values; {} when it does not exist."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    return parse_env(text, str(path))


def apply_env_file(path: Path | None = None) -> Path | None:
    """Load the env file into this process's environment, real environment variables winning.

    Children started afterwards inherit both. Returns the file when one was read.
    """
    path = path or default_env_file()
    try:
        values = read_env_file(path)
    except EnvFileError as exc:
        raise SystemExit(f"aiops: {exc}") from exc
    for key, value in values.items():
        os.environ.setdefault(key, value)
    return path if path.exists() else None


def quote(value: str) -> str:
    """``value`` as it is written after ``KEY=``, read back unchanged by compose, shells and parse_env."""
    if _BARE.match(value):
        return value
    if "\n" in value or "\r" in value:
        raise ValueError("a value with a line break cannot be written to an env file")
    if "'" not in value:
        return f"'{value}'"
    if not any(char in value for char in '"\\$`'):
        return f'"{value}"'
    raise ValueError("a value holding both ' and one of \" \\ $ ` cannot be quoted for every reader")


def _render(line: str, key: str, value: str) -> str:
    prefix = "export " if line.lstrip().startswith("export ") else ""
    return f"{prefix}{key}={quote(value)}"


def update_env_file(path: Path, changes: Mapping[str, str]) -> None:
    """Set ``changes`` in the file, keeping its comments, order and other keys; mode 0600.

    A key already there is replaced where it stands (a repeated key keeps one line); a new key is
    appended. The file is replaced atomically, so a reader never sees half of it.
    """
    rendered = {key: quote(value) for key, value in changes.items()}  # refuse before touching anything
    if path.exists() and not path.is_file():
        raise ValueError(f"{path} is not a regular file; choose another with --env-file")
    try:
        old = _lines(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        old = []
    lines: list[str] = []
    done: set[str] = set()
    for number, line in enumerate(old, start=1):
        pair = _assignment(line, f"{path}, line {number}")
        if pair is None or pair[0] not in rendered:
            lines.append(line)
        elif pair[0] not in done:
            lines.append(_render(line, pair[0], changes[pair[0]]))
            done.add(pair[0])
    added = [f"{key}={text}" for key, text in rendered.items() if key not in done]
    if added and lines and lines[-1].strip():
        lines.append("")
    lines += added
    handle, temporary = tempfile.mkstemp(prefix=".env.", dir=path.parent)  # created 0600
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n")
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
