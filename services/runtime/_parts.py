"""Settings a plug-in declares in its own module, read with its service's settings as one Struct.

A msgspec Struct has at most one base with fields, so a source or a destination cannot mix its
settings into its service's class. It declares a part instead, next to its code::

    class ElasticsearchSettings(SettingsPart, kw_only=True, frozen=True):
        elasticsearch_url: Annotated[str, doc("Elasticsearch base URL")] = ""

and the service's settings are composed from its own fields and every registered part
(``with_parts``). The result is an ordinary settings Struct, so everything that reads settings
reads the parts too, unchanged: ``load`` (the same variables, the same errors), ``describe``,
``masked``, ``help_text``, the README table and the Kubernetes manifests' secret keys. The plug-in
reads back its own part, typed, with ``ElasticsearchSettings.of(settings)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Self, TypeVar, cast, get_type_hints

import msgspec

from services.runtime._config import describe

S = TypeVar("S", bound=msgspec.Struct)


class SettingsPart(msgspec.Struct, kw_only=True, frozen=True):
    """The settings one plug-in declares; its fields follow the settings rules (``doc``, secrets)."""

    @classmethod
    def of(cls, settings: msgspec.Struct) -> Self:
        """This part of settings composed with it; TypeError when they were composed without it."""
        names = [field.name for field in msgspec.structs.fields(cls)]
        lacking = [name for name in names if not hasattr(settings, name)]
        if lacking:
            raise TypeError(
                f"{type(settings).__name__} was not composed with {cls.__name__} "
                f"(it lacks {', '.join(name.upper() for name in lacking)})"
            )
        return cls(**{name: getattr(settings, name) for name in names})


def _declared(struct: type[msgspec.Struct]) -> list[tuple[str, Any, Any]]:
    """The fields of ``struct`` as ``defstruct`` takes them, annotations and defaults kept."""
    hints = get_type_hints(struct, include_extras=True)
    declared: list[tuple[str, Any, Any]] = []
    for field in msgspec.structs.fields(struct):
        if field.default_factory is not msgspec.NODEFAULT:
            default = msgspec.field(default_factory=field.default_factory)
        else:
            default = field.default
        declared.append((field.name, hints[field.name], default))
    return declared


def with_parts(name: str, base: type[S], parts: Iterable[type[SettingsPart]]) -> type[S]:
    """``base`` and every part's fields as one settings Struct named ``name``, parts in order.

    A variable two of them declare (a field or an alias) is refused at import, naming both, as
    two plug-ins reading one variable for different things is a bug no start-up would show.
    """
    owners = {env: base.__name__ for info in describe(base) for env in info.env}
    fields: list[tuple[str, Any, Any]] = []
    for part in dict.fromkeys(parts):  # a part two plug-ins share is read once
        for info in describe(part):
            for env in info.env:
                if env in owners:
                    raise TypeError(f"{env} is declared by both {owners[env]} and {part.__name__}")
                owners[env] = part.__name__
        fields += _declared(part)
    config = base.__struct_config__
    composed = msgspec.defstruct(
        name,
        fields,
        bases=(base,),
        module=base.__module__,
        kw_only=True,
        frozen=config.frozen,
        forbid_unknown_fields=config.forbid_unknown_fields,
    )
    return cast(type[S], composed)
