"""The journal: an append-only log of messages, in order, to any number of readers.

:class:`JournalWriter` appends and commits (a batch becomes visible at once). A
:class:`JournalReader` is an iterator over the committed messages (:class:`Message`: ``seq``,
``type``, ``position`` and ``data`` as ``bytes``); ``next(timeout=...)`` waits for one with the
GIL released, ``read_batch`` returns many at once (the fast path), and ``async for`` waits
without blocking the asyncio event loop.

Payloads are copies: a ring frame is overwritten in place when the writer laps it, and a
``memoryview`` into shared memory could neither be revoked nor kept stable, so none is ever
handed out.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any, Iterator, List, Optional

from . import _shmbus as _native

__all__ = ["JournalWriter", "JournalReader", "Message"]

Message = _native.Message
JournalWriter = _native.JournalWriter

#: How long one waiting step of an ``async for`` lasts on its thread (seconds). Shorter means
#: a cancelled task releases the reader sooner; the wait itself is woken by the writer's
#: commit at once.
ASYNC_WAIT_SLICE = 0.25


class JournalReader(_native.JournalReader):
    """A reader of journal ``name`` (maps it read-only, never writes).

    ``start`` is ``"beginning"`` (the oldest stored message, the default), ``"end"`` (only new
    messages) or a sequence number (e.g. a saved :attr:`next_seq`).

    * ``for m in reader`` yields the messages committed so far, then stops (iterate again later
      for more; :meth:`follow` never stops).
    * ``reader.next(timeout=1.0)`` waits up to 1 s (``None``: forever), GIL released.
    * ``reader.read_batch(256)`` returns up to 256 ready messages as a list (the fastest way
      to drain a journal: several million messages per second).
    * ``async for m in reader`` waits on a thread of its own, woken by the writer's commit;
      the event loop keeps running. One task iterates one reader at a time.

    A reader that the writer laps (ring) raises :class:`~shmbus.errors.Overrun` (``lost``,
    ``resume_seq``) and continues from the oldest stored message. A reader is used by one
    thread at a time.
    """

    _executor: Optional[concurrent.futures.ThreadPoolExecutor] = None
    _pending: Optional["concurrent.futures.Future[bool]"] = None

    def follow(self, timeout: Optional[float] = None) -> Iterator[Any]:
        """Yields messages as they are committed, forever (or until no message came for
        ``timeout`` seconds). Waits with the GIL released; Ctrl-C interrupts it."""
        while True:
            m = self.next(timeout=timeout)
            if m is None:
                return
            yield m

    # --- asyncio -------------------------------------------------------------------------

    def _wait_future(self) -> "concurrent.futures.Future[bool]":
        """The wait running on this reader's thread (a new one unless one still runs: after a
        cancelled task, its wait finishes first, so two threads never share the reader)."""
        if self._pending is not None and not self._pending.done():
            return self._pending
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix=f"shmbus-journal-{self.name}"
            )
        self._pending = self._executor.submit(self.wait, ASYNC_WAIT_SLICE)
        return self._pending

    async def _ready(self) -> None:
        # A message `wait` takes out of the journal is kept by the reader, so a task cancelled
        # here loses nothing.
        await asyncio.wrap_future(self._wait_future())

    def __aiter__(self) -> "JournalReader":
        return self

    async def __anext__(self) -> Any:
        if self._pending is not None and not self._pending.done():
            await self._ready()
        m = self.next()
        while m is None:
            await self._ready()
            m = self.next()
        return m

    async def next_async(self, timeout: Optional[float] = None) -> Any:
        """The next message, waiting up to ``timeout`` seconds (``None``: no limit) without
        blocking the event loop; ``None`` on timeout."""
        try:
            return await asyncio.wait_for(self.__anext__(), timeout)
        except asyncio.TimeoutError:
            return None

    async def read_batch_async(self, max: int = 256, timeout: Optional[float] = None) -> List[Any]:
        """Up to ``max`` messages, waiting (without blocking the loop) for the first one up to
        ``timeout`` seconds; an empty list on timeout."""
        first = await self.next_async(timeout)
        if first is None:
            return []
        return [first, *self.read_batch(max - 1)] if max > 1 else [first]

    def close(self) -> None:
        """Unmaps the journal (after any wait still running for ``async for`` ends)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            concurrent.futures.wait([pending])
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None
        super().close()

    def __exit__(self, ty: Any, value: Any, tb: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        if self.closed:
            return f"<JournalReader {self.name!r} (closed)>"
        return f"<JournalReader {self.name!r} at seq {self.next_seq}>"
