"""How far behind its input a stage is: what another consumer of the same process can give way to.

JetStream tells each delivered message how many of the consumer's messages still wait at the server
after it (the last token of its ack subject). The stage reads that from the last message of each
batch it takes, so keeping it costs one split per batch; once it has caught up, the last message it
was given says 0. A consumer shared by replicas counts what waits for all of them, so a replica that
is no longer given messages (another took the last) would keep its last count: a pull request that
expires unfilled says the server had nothing for it, and sets the count to 0. A stage is behind
while messages wait at the server or it still holds some it took: in a flood the server's count
touches 0 each time the stage takes all there is, while it works through the batch it took.

The analyst's reviews give way to its alerts this way (``services/analyst/_reviews.py``): an incident
is not announced while its members may still be queued, within a bound.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable


class Backlog:
    """One stage's backlog, kept by its worker, read by the process's other consumers."""

    def __init__(self) -> None:
        self.waiting = 0  # the consumer's messages at the server, as the stage was last told
        # Taken or received by this process's stage and not finished: read live from its worker.
        self._unfinished: Callable[[], int] = lambda: 0
        self._caught_up = asyncio.Event()
        self._caught_up.set()

    def kept_by(self, unfinished: Callable[[], int]) -> None:
        """The worker's count of messages it took or received and has not finished."""
        self._unfinished = unfinished

    def told(self, waiting: int) -> None:
        """The server's count: from the last message taken, or 0 once a request found nothing."""
        self.waiting = waiting
        self.settled()

    def settled(self) -> None:
        """The stage finished messages, or stopped taking them."""
        if self.behind:
            self._caught_up.clear()
        else:
            self._caught_up.set()

    @property
    def behind(self) -> bool:
        return bool(self.waiting or self._unfinished())

    async def until_caught_up(self, within: float) -> bool:
        """Once the stage has caught up, or ``within`` seconds passed: whether it has."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(within, 0.0)):
                while self.behind:
                    self._caught_up.clear()  # set again by the next ``settled`` that finds it caught up
                    await self._caught_up.wait()
        return not self.behind
