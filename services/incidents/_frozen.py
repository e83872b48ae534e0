"""The Struct base of the values the modules ``services/compiled.py`` compiles make; never compiled itself.

mypyc builds a class's namespace without the keywords of its ``class`` statement, so a ``msgspec.Struct``
declared in a compiled module would lose ``frozen=``: a footprint or score shared between batches could
be changed in place. msgspec inherits the setting from a base, and a base defined here is created by the
interpreter, keywords intact. The compiled classes repeat the keyword for readers and mypy.
"""

from __future__ import annotations

import msgspec


class Frozen(msgspec.Struct, frozen=True):
    """Immutable (and hashable): a footprint, a score, an assignment."""
