"""Running a hot request's coroutine eagerly, without an ``asyncio.Task``.

Why: an ``asyncio.Task`` per request (created, registered in asyncio's task set, first
step scheduled for the next loop iteration, done callbacks scheduled again at the end)
cost the gateway about 3 us of event-loop CPU per single-event request, close to a tenth
of the protocol's whole work (in-process profile of ``GatewayProtocol``, 20,000
CloudEvents binary requests). A hot request's coroutine suspends once, on its Kafka
acknowledgement; :func:`run_eagerly` runs it at once, up to that point, inside the
parser's callback (so the record is produced in the same loop iteration that read the
request) and resumes it from the acknowledgement's done callback.

What a Task gives that this does not: ``asyncio.current_task()`` is ``None`` inside, so
the code of the hot handlers must not use ``asyncio.timeout()`` (``asyncio.wait_for``
and ``gather`` make tasks of their own and are fine). Each run has its own copy of the
context, as a Task has (a ``ContextVar`` set by the request never leaks into the next).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Coroutine
from typing import Any

logger = logging.getLogger(__name__)


class EagerRun:
    """One coroutine driven by its awaited futures' done callbacks (see the module doc).

    While suspended it sits in ``running`` (uvicorn's ``server_state.tasks``: a graceful
    shutdown waits for it and, past its timeout, calls :meth:`cancel`).
    """

    __slots__ = ("context", "coro", "loop", "running", "waiting")

    def __init__(
        self,
        coro: Coroutine[Any, Any, None],
        loop: asyncio.AbstractEventLoop,
        running: set[Any],
    ) -> None:
        self.coro = coro
        self.loop = loop
        self.running = running
        self.context = contextvars.copy_context()
        self.waiting: asyncio.Future[Any] | None = None

    def start(self) -> None:
        """Run the coroutine up to its first suspension (or its end)."""
        self.context.run(self._advance)

    def _advance(self, _: object = None) -> None:
        """One step, inside the run's context; resumed by what it waits on."""
        self.waiting = None
        try:
            yielded = self.coro.send(None)
        except StopIteration:
            self.running.discard(self)
            return
        except asyncio.CancelledError:
            self.running.discard(self)
            return
        except BaseException:
            self.running.discard(self)
            logger.exception("a request's coroutine failed outside its error handling")
            return
        self.running.add(self)
        if yielded is None:  # a bare yield (asyncio.sleep(0)): go on next iteration
            self.loop.call_soon(self._advance, context=self.context)
            return
        if getattr(yielded, "_asyncio_future_blocking", None) is None:
            self.coro.close()
            self.running.discard(self)
            logger.error("a request's coroutine awaited %r, which is not a future", yielded)
            return
        yielded._asyncio_future_blocking = False
        self.waiting = yielded
        yielded.add_done_callback(self._advance, context=self.context)

    def cancel(self, msg: Any = None) -> bool:
        """Cancel the future the coroutine waits on: it resumes with ``CancelledError``."""
        waiting = self.waiting
        return waiting is not None and waiting.cancel(msg)


def run_eagerly(
    coro: Coroutine[Any, Any, None], loop: asyncio.AbstractEventLoop, running: set[Any]
) -> None:
    """Run ``coro`` now, up to its first suspension; it goes on without a Task."""
    EagerRun(coro, loop, running).start()
