"""Start a coroutine in the caller; only a coroutine that really waits gets a task of its own.

Most messages are handled without waiting on I/O (a rules analysis, an enrichment with no
backend): running them inline spares a task, its scheduling and a per-message publish
wait, which is most of the runtime's cost per message. This is what Python 3.12's eager
tasks do; the project supports 3.11, so it is done here, once.
"""

from __future__ import annotations

import types
from collections.abc import Coroutine, Generator
from typing import Any


def start(coro: Coroutine[Any, Any, Any]) -> tuple[bool, Any]:
    """Run until the first suspension: ``(True, result)`` if it finished, else ``(False, awaited)``.

    Exceptions raised before the first suspension propagate to the caller.
    """
    try:
        awaited = coro.send(None)
    except StopIteration as done:
        return True, done.value
    return False, awaited


@types.coroutine
def resume(coro: Coroutine[Any, Any, Any], awaited: Any) -> Generator[Any, Any, Any]:
    """The rest of ``await coro`` after ``start`` saw it suspend on ``awaited``: await this in a task."""
    while True:
        try:
            sent = yield awaited
        except BaseException as exc:  # cancellation or an error the event loop throws in
            try:
                awaited = coro.throw(exc)
            except StopIteration as done:
                return done.value
        else:
            try:
                awaited = coro.send(sent)
            except StopIteration as done:
                return done.value
