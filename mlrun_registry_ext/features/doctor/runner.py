"""Running checks with a hard time bound: the whole doctor is over within its timeout, whatever a peer does.

A per-read socket timeout alone does not bound a check: a peer that drips one byte a second keeps
every read alive. So each network check runs in its own daemon thread (:class:`_Running`) and the
caller waits for it only until the check's deadline plus :data:`GRACE`; the check itself gets a
:class:`_Budget` and hands what is left of it to every socket operation, so an abandoned thread ends
on its own soon after. Several registries are checked side by side (:func:`run_each`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Literal, TypeVar

Severity = Literal["info", "warning", "error"]
#: What a check returns: ``(ok, detail, severity)``.
Outcome = tuple[bool, str, Severity]
#: Slack on top of ``timeout`` before an unresponsive check is abandoned (its own timeouts fire first).
GRACE = 0.1

T = TypeVar("T")
R = TypeVar("R")


class _Budget:
    """The time left for one check: every network step inside it gets at most this."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.01, self.end - time.monotonic())


class _Running:
    """A check running in a daemon thread; :meth:`outcome` waits at most until its deadline.

    So no check exceeds ``timeout`` (plus :data:`GRACE`) even when a peer drips bytes; an abandoned
    thread ends on its own (its socket timeouts use the same budget) and its result is ignored.
    """

    def __init__(self, fn: Callable[[_Budget], Outcome], timeout: float) -> None:
        self.started = time.monotonic()
        self.finished: float | None = None
        self.timeout = timeout
        self._box: list[Outcome | BaseException] = []
        self._thread = threading.Thread(
            target=self._run, args=(fn, _Budget(timeout)), daemon=True, name="registry-doctor-check"
        )
        self._thread.start()

    def _run(self, fn: Callable[[_Budget], Outcome], budget: _Budget) -> None:
        try:
            self._box.append(fn(budget))
        except BaseException as exc:  # re-raised in the caller's thread by outcome()
            self._box.append(exc)
        self.finished = time.monotonic()

    @property
    def seconds(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    def outcome(self) -> Outcome:
        self._thread.join(max(0.0, self.started + self.timeout + GRACE - time.monotonic()))
        if not self._box:
            return False, f"no answer within {self.timeout:g} s", "error"
        result = self._box[0]
        if isinstance(result, BaseException):
            raise result
        return result


def run_each(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``fn(item)`` for every item, concurrently (a thread each), results in order; one item runs here."""
    if len(items) == 1:
        return [fn(items[0])]
    with ThreadPoolExecutor(max_workers=len(items), thread_name_prefix="registry-doctor") as pool:
        return list(pool.map(fn, items))
