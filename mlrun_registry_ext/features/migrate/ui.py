"""Progress of a migration: the displays live in :mod:`mlrun_registry_ext.features.progress` (shared with
``prune``); this module keeps the names the migration package has always exported."""

from __future__ import annotations

from mlrun_registry_ext.features.progress import (
    BYTES,
    NoProgress,
    NotebookProgress,
    Progress,
    RichProgress,
    live_progress,
)

__all__ = ["BYTES", "NoProgress", "NotebookProgress", "Progress", "RichProgress", "live_progress"]
