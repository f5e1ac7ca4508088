"""Progress of long work (a migration, a prune) where the user is looking: a terminal or a notebook.

:func:`live_progress` is the one entry: it returns a :class:`Progress` (also a context manager):

- in a Jupyter kernel, a rich progress display rendered into the cell's output and updated in place
  (an IPython display handle: it needs no ipywidgets, and the last state stays in the saved notebook);
- on a terminal (stderr is a TTY), a rich progress bar on stderr;
- otherwise (output piped, ``--json``, ``progress=False``) :class:`NoProgress`, which does nothing.

Each phase has a unit: ``"bytes"`` shows sizes and a transfer rate (``1.2/3.4 MB 5.6 MB/s``), any other
unit counts (``12/40 tags``), so a count of tags is never shown as bytes. rich and IPython are imported
only when a display is built, never by the engines that report here.
"""

from __future__ import annotations

import io
import sys
import threading
import time
from html import escape
from types import TracebackType
from typing import Any, Protocol

#: The unit that shows sizes and a rate; every other unit is a plain count.
BYTES = "bytes"


class Progress(Protocol):
    """What long work reports to: a phase (a description, a total when known, its unit), then steps."""

    def phase(self, text: str, total: int | None = None, unit: str = "") -> None: ...
    def advance(self, amount: int = 1) -> None: ...
    def close(self) -> None: ...


class _Closing:
    def close(self) -> None:
        pass

    def __enter__(self) -> Any:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()


class NoProgress(_Closing):
    """Shows nothing: output that is not a terminal or a notebook, and ``--json``."""

    def phase(self, text: str, total: int | None = None, unit: str = "") -> None:
        pass

    def advance(self, amount: int = 1) -> None:
        pass


def _columns() -> tuple[Any, ...]:
    """The columns of one rich Progress whose tasks differ in unit (rich's columns are shared by all
    tasks): sizes and a rate for a ``bytes`` task, ``done/total unit`` for any other."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TransferSpeedColumn,
    )
    from rich.text import Text

    class AmountColumn(ProgressColumn):
        def __init__(self) -> None:
            super().__init__()
            self._sizes = DownloadColumn()
            self._speed = TransferSpeedColumn()

        def render(self, task: Any) -> Any:
            unit = task.fields.get("unit", "")
            if unit == BYTES:
                return Text.assemble(self._sizes.render(task), " ", self._speed.render(task))
            if task.total is None:  # a phase of unknown size (listing) counts nothing yet
                return Text("")
            return Text(f"{int(task.completed)}/{int(task.total)} {unit}".rstrip(), style="progress.download")

    return (TextColumn("[bold]{task.description}"), BarColumn(), AmountColumn(), TimeElapsedColumn())


class RichProgress(_Closing):
    """A rich progress bar (stderr by default): one line per phase, each labelled with its unit."""

    def __init__(self, stderr: bool = True, console: Any = None) -> None:
        from rich.console import Console
        from rich.progress import Progress as Bars

        self._progress = Bars(*_columns(), console=console or Console(stderr=stderr), transient=False)
        self._task: Any = None
        self._lock = threading.Lock()
        self._start()

    def _start(self) -> None:
        self._progress.start()

    def _changed(self, final: bool = False) -> None:
        """Hook for displays that are not a live terminal (the notebook's)."""

    def phase(self, text: str, total: int | None = None, unit: str = "") -> None:
        with self._lock:
            if self._task is not None:  # the phase before is over: show it full
                task = self._progress.tasks[-1]
                self._progress.update(self._task, completed=task.total or task.completed)
            self._task = self._progress.add_task(text, total=total, unit=unit)
            self._changed()

    def advance(self, amount: int = 1) -> None:
        with self._lock:
            if self._task is not None:
                self._progress.advance(self._task, amount)
                self._changed()

    def close(self) -> None:
        with self._lock:
            self._progress.stop()
            self._changed(final=True)


class NotebookProgress(RichProgress):
    """The same rich display, rendered to HTML (and text) in the running cell and updated in place.

    rich's own live display in Jupyter needs ipywidgets, which MLRun's images do not all have, and
    a widget's content is not kept in the saved notebook; a display handle needs neither. Updates are
    throttled (every :attr:`INTERVAL` seconds, and once at the end) so a fast copy does not flood the
    kernel's output channel.
    """

    #: Seconds between two updates of the cell's output.
    INTERVAL = 0.25
    #: Characters per line of the rendered display.
    WIDTH = 100

    def __init__(self) -> None:
        from IPython.display import display

        self._handle: Any = display(self._bundle_of(""), raw=True, display_id=True)
        self._last = 0.0
        from rich.console import Console

        super().__init__(console=Console(file=io.StringIO(), width=self.WIDTH, force_jupyter=False,
                                         force_terminal=False, color_system=None))

    def _start(self) -> None:  # no live refresh thread: the cell is updated from _changed
        pass

    @staticmethod
    def _bundle_of(text: str, html: str | None = None) -> dict[str, str]:
        from rich.jupyter import JUPYTER_HTML_FORMAT

        return {"text/plain": text, "text/html": html or JUPYTER_HTML_FORMAT.format(code=escape(text))}

    def _changed(self, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self._last < self.INTERVAL:
            return
        self._last = now
        from rich.console import Console

        render = Console(file=io.StringIO(), record=True, width=self.WIDTH, force_jupyter=False,
                         force_terminal=True, color_system="truecolor")
        render.print(self._progress.get_renderable())
        text = render.export_text(clear=False, styles=False)
        from rich.jupyter import JUPYTER_HTML_FORMAT

        html = render.export_html(inline_styles=True, code_format=JUPYTER_HTML_FORMAT)
        self._handle.update(self._bundle_of(text.rstrip("\n"), html), raw=True)


def in_notebook() -> bool:
    """True in a Jupyter kernel (rich's own test: ``Console().is_jupyter``); ipykernel not loaded means
    no, without importing rich."""
    if "ipykernel" not in sys.modules:
        return False
    from rich.console import Console

    return bool(Console().is_jupyter)


def live_progress(show: bool | Progress | None = None) -> Progress:
    """The progress display for where this runs: ``show`` None picks (a notebook's display, a bar when
    stderr is a terminal, else nothing), True asks for one (the notebook's, else a terminal bar), False
    for none; a :class:`Progress` object passed in is used as it is."""
    if show is not None and not isinstance(show, bool):
        return show
    if show is False:
        return NoProgress()
    if in_notebook():
        return NotebookProgress()
    if show or sys.stderr.isatty():
        return RichProgress()
    return NoProgress()
