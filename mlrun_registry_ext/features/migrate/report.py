"""What a migration did (or, with ``dry_run``, would do): per-tag results and the totals, as text for
the terminal, a dict for ``--json`` and an HTML table for notebooks."""

from __future__ import annotations

import html
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from mlrun_registry_ext.core.compat import slotted

#: Errors and differences listed in the text summary (all of them are in ``to_dict``).
MAX_LISTED = 10

TagStatus = Literal["copied", "skipped", "failed", "planned"]


@slotted()
class TagResult:
    """One source tag: where it goes, both digests and what happened.

    Slots: a report holds one per tag, and a migration of thousands of tags holds them all until it
    prints its report, so their size is most of what the run's memory grows by per tag.
    """

    source: str
    target: str
    source_digest: str | None = None
    target_digest: str | None = None
    status: TagStatus = "planned"
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The fields that are set, in declaration order."""
        return {k: v for k in _TAG_FIELDS if (v := getattr(self, k)) is not None}


_TAG_FIELDS = tuple(f.name for f in fields(TagResult))


@dataclass
class MigrationReport:
    """What a migration did (or, with ``dry_run``, would do)."""

    source: str
    target: str
    dry_run: bool = False
    tags: list[TagResult] = field(default_factory=list)
    manifests_copied: int = 0
    manifests_skipped: int = 0
    blobs_copied: int = 0
    blobs_skipped: int = 0
    blobs_mounted: int = 0
    bytes_copied: int = 0
    bytes_skipped: int = 0
    bytes_mounted: int = 0
    seconds: float = 0.0
    verified: int = 0
    #: Requests each registry answered (``source``, ``target``; token servers not counted).
    requests: dict[str, int] = field(default_factory=dict)
    differences: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def count(self, status: TagStatus) -> int:
        return sum(1 for t in self.tags if t.status == status)

    @property
    def images(self) -> int:
        return len(self.tags)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.differences and not self.count("failed")

    @property
    def mb_per_s(self) -> float:
        return self.bytes_copied / 1e6 / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "dry_run": self.dry_run,
            "ok": self.ok,
            "images": {"total": self.images, "copied": self.count("copied"), "skipped": self.count("skipped"),
                       "failed": self.count("failed"), "planned": self.count("planned")},
            "manifests": {"copied": self.manifests_copied, "skipped": self.manifests_skipped},
            "blobs": {"copied": self.blobs_copied, "skipped": self.blobs_skipped, "mounted": self.blobs_mounted},
            "bytes": {"copied": self.bytes_copied, "skipped": self.bytes_skipped, "mounted": self.bytes_mounted},
            "requests": dict(self.requests),
            "seconds": round(self.seconds, 3),
            "mb_per_s": round(self.mb_per_s, 1),
            "verified": self.verified,
            "differences": self.differences,
            "errors": self.errors,
            "tags": [t.to_dict() for t in self.tags],
        }

    def summary_lines(self) -> list[str]:
        verb = "would copy" if self.dry_run else "copied"
        lines = [
            f"{self.source} -> {self.target}" + (" (dry run)" if self.dry_run else ""),
            f"images: {self.images} total, {self.count('planned') if self.dry_run else self.count('copied')} "
            f"{verb}, {self.count('skipped')} already identical, {self.count('failed')} failed",
            f"manifests: {self.manifests_copied} {verb}, {self.manifests_skipped} skipped",
            f"blobs: {self.blobs_copied} {verb}, {self.blobs_skipped} skipped (present), "
            f"{self.blobs_mounted} {'would be ' if self.dry_run else ''}mounted",
            f"bytes: {_mb(self.bytes_copied)} {verb}, {_mb(self.bytes_skipped)} skipped, "
            f"{_mb(self.bytes_mounted)} mounted; {self.seconds:.2f} s"
            + ("" if self.dry_run else f", {self.mb_per_s:.1f} MB/s"),
        ]
        if not self.dry_run:
            lines.append(f"verified: {self.verified} of {self.images} tags resolve to the same digest on the target")
        lines += [f"difference: {d['tag']}: {d['problem']}" for d in self.differences[:MAX_LISTED]]
        lines += [f"error: {e}" for e in self.errors[:MAX_LISTED]]
        hidden = max(0, len(self.differences) - MAX_LISTED) + max(0, len(self.errors) - MAX_LISTED)
        if hidden:
            lines.append(f"... and {hidden} more (see --json)")
        return lines

    def __str__(self) -> str:
        return "\n".join(self.summary_lines())

    def _repr_html_(self) -> str:
        data = self.to_dict()
        rows = [("status", "OK" if self.ok else "PROBLEMS"),
                ("images", ", ".join(f"{k} {v}" for k, v in data["images"].items())),
                ("manifests", ", ".join(f"{k} {v}" for k, v in data["manifests"].items())),
                ("blobs", ", ".join(f"{k} {v}" for k, v in data["blobs"].items())),
                ("bytes", ", ".join(f"{k} {_mb(v)}" for k, v in data["bytes"].items())),
                ("time", f"{self.seconds:.2f} s, {self.mb_per_s:.1f} MB/s"),
                ("verified", f"{self.verified} of {self.images}")]
        body = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                       for k, v in rows)
        problems = "".join(f"<li>{html.escape(d['tag'])}: {html.escape(d['problem'])}</li>" for d in self.differences)
        problems += "".join(f"<li>{html.escape(e)}</li>" for e in self.errors)
        title = f"Migration {html.escape(self.source)} &rarr; {html.escape(self.target)}"
        if self.dry_run:
            title += " (dry run)"
        return (f"<table><caption>{title}</caption>{body}</table>"
                + (f"<ul>{problems}</ul>" if problems else ""))


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"

