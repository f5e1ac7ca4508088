"""Progress as a user sees it on a terminal: every counter says what it counts (tags, or bytes with a
rate), and nothing is drawn when output is piped or the caller asked for none."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from collections.abc import Callable

from rich.console import Console

from mlrun_registry_ext.features.migrate import migrate
from mlrun_registry_ext.features.progress import NoProgress, RichProgress, live_progress
from tests.support import images as im
from tests.support.env import REPO
from tests.support.registry import RunningRegistry


def terminal() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=120, color_system=None), out


def test_a_terminal_migration_counts_tags_as_tags_and_blobs_in_bytes(
        registry_factory: Callable[..., RunningRegistry]) -> None:
    source = registry_factory()
    im.push_all(source.url, im.image_set(seed=3, count=3))
    target = registry_factory()
    console, out = terminal()
    report = migrate(source.url, target.service(), progress=RichProgress(console=console))
    assert not report.errors
    drawn = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\r", "\n", out.getvalue())  # cursor moves: new lines
    lines = {line.split()[0]: line for line in drawn.splitlines() if line.strip()}  # the last drawing wins
    assert "3/3 tags" in lines["comparing"]
    assert "3/3 tags" in lines["verifying"]
    assert re.search(r"[\d.]+/[\d.]+ kB", lines["blobs"]), lines["blobs"]  # sizes (and a rate once measured)
    assert "kB" not in lines["manifests"] and "bytes" not in lines["manifests"]


def test_no_progress_is_chosen_when_output_is_piped_or_refused() -> None:
    assert isinstance(live_progress(False), NoProgress)
    code = ("from mlrun_registry_ext.features.progress import live_progress; import sys; "
            "print(type(live_progress()).__name__, 'rich' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.split() == ["NoProgress", "False"]  # stderr is a pipe: nothing drawn, rich not loaded


def test_a_progress_object_passed_in_is_used_as_it_is() -> None:
    mine = NoProgress()
    assert live_progress(mine) is mine


def test_the_progress_object_closes_as_a_context_manager() -> None:
    console, out = terminal()
    with RichProgress(console=console) as bar:
        bar.phase("work", total=2, unit="images")
        bar.advance(2)
    assert "2/2 images" in out.getvalue()
