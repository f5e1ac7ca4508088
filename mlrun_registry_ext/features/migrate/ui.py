"""Progress of a migration: the protocol the engine reports to, a silent sink, and a rich bar.

rich is imported only when a :class:`RichProgress` is built (a terminal run), never by the engine.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol


class Progress(Protocol):
    def phase(self, text: str, total: int | None = None) -> None: ...
    def advance(self, amount: int = 1) -> None: ...
    def close(self) -> None: ...


class NoProgress:
    def phase(self, text: str, total: int | None = None) -> None:
        pass

    def advance(self, amount: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


class RichProgress:
    """A rich progress bar on stderr: one task per phase (listing, blobs in bytes, manifests)."""

    def __init__(self, stderr: bool = True) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TransferSpeedColumn,
        )

        self._columns = (TextColumn("[bold]{task.description}"), BarColumn(), TimeElapsedColumn())
        self._bytes_columns = (TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(),
                               TransferSpeedColumn(), TimeElapsedColumn())
        self._progress = Progress(*self._bytes_columns, console=Console(stderr=stderr), transient=False)
        self._progress.start()
        self._task: Any = None
        self._lock = threading.Lock()

    def phase(self, text: str, total: int | None = None) -> None:
        with self._lock:
            if self._task is not None:
                task = self._progress.tasks[-1]
                self._progress.update(self._task, completed=task.total or task.completed)
            self._task = self._progress.add_task(text, total=total)

    def advance(self, amount: int = 1) -> None:
        with self._lock:
            if self._task is not None:
                self._progress.advance(self._task, amount)

    def close(self) -> None:
        self._progress.stop()

