"""What a prune did (or, with ``dry_run``, would do): decisions per tag, deletions, bytes freed, as plain
data (``to_dict``), lines (``summary_lines``) and a notebook table (``_repr_html_``)."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from mlrun_registry_ext.core.prune_plan import (
    KeepRules,
    ManifestDeletion,
    PrunePlan,
    TagDecision,
    format_duration,
)

MAX_LISTED = 10


@dataclass
class PruneReport:
    """What a prune did (or, with ``dry_run``, would do): decisions per tag, deletions, bytes freed."""

    registry: str
    dry_run: bool
    plan: PrunePlan
    rules: KeepRules
    project: str | None = None
    repositories: int = 0
    references: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: Where the restore file was written (None: a dry run, or nothing to delete).
    restore_file: str | None = None

    @property
    def deleted(self) -> list[ManifestDeletion]:
        done = ("planned",) if self.dry_run else ("deleted", "gone")
        return [d for d in self.plan.deletions if d.status in done]

    @property
    def deleted_tags(self) -> list[TagDecision]:
        gone = {(d.repository, d.digest) for d in self.deleted}
        return [t for t in self.plan.decisions if (t.repository, t.digest) in gone]

    @property
    def kept_tags(self) -> list[TagDecision]:
        gone = {(d.repository, d.digest) for d in self.deleted}
        return [t for t in self.plan.decisions if (t.repository, t.digest) not in gone]

    @property
    def freed(self) -> dict[str, int]:
        """Blobs freed by what was deleted (on a dry run: by what would be)."""
        return dict(self.plan.freed)

    @property
    def bytes_freed(self) -> int:
        return sum(self.freed.values())

    @property
    def ok(self) -> bool:
        return not self.errors and not any(d.status == "failed" for d in self.plan.deletions)

    def to_dict(self) -> dict[str, Any]:
        return {
            "registry": self.registry,
            "dry_run": self.dry_run,
            "project": self.project,
            "ok": self.ok,
            "keep": self.rules.keep,
            "older_than": format_duration(self.rules.older_than) if self.rules.older_than else None,
            "min_age": format_duration(self.rules.min_age),
            "repositories": self.repositories,
            "references": self.references,
            "tags": {"total": len(self.plan.decisions), "kept": len(self.kept_tags),
                     "deleted": len(self.deleted_tags)},
            "manifests_deleted": len(self.deleted),
            "bytes_freed": self.bytes_freed,
            "bytes_exact": self.plan.exact,
            "bytes_bound_reason": self.plan.exact_reason,
            "restore_file": self.restore_file,
            "skipped": [d.to_dict() for d in self.plan.deletions if d.status == "skipped"],
            "blobs_freed": sorted(self.freed),
            "seconds": round(self.seconds, 3),
            "decisions": [d.to_dict() for d in self.plan.decisions],
            "deletions": [d.to_dict() for d in self.plan.deletions],
            "warnings": list(self.warnings),
            "errors": list(self.errors),
        }

    def summary_lines(self) -> list[str]:
        verb = "would delete" if self.dry_run else "deleted"
        kept_manifests = [d for d in self.plan.deletions if d.status == "kept"]
        failed = [d for d in self.plan.deletions if d.status == "failed"]
        skipped = [d for d in self.plan.deletions if d.status == "skipped"]
        bound = "" if self.plan.exact else f" (an upper bound: {self.plan.exact_reason})"
        lines = [
            f"{self.registry}" + (f" project {self.project}" if self.project else "")
            + (" (dry run)" if self.dry_run else ""),
            f"tags: {len(self.plan.decisions)} in {self.repositories} repositories, {len(self.kept_tags)} kept, "
            f"{len(self.deleted_tags)} {verb}; {self.references} image references from functions",
            f"manifests: {len(self.deleted)} {verb}"
            + (f", {len(kept_manifests)} kept (registry refused)" if kept_manifests else "")
            + (f", {len(skipped)} skipped (a tag reaches them now)" if skipped else "")
            + (f", {len(failed)} failed" if failed else ""),
            f"freed: {_mb(self.bytes_freed)} in {len(self.freed)} blobs{bound}; {self.seconds:.2f} s",
        ]
        if self.restore_file:
            lines.append(f"restore file: {self.restore_file} (undo: mlrun-registry prune --restore FILE)")
        lines += [f"skipped: {d.repository}@{d.digest[:19]}: {d.error}" for d in skipped[:MAX_LISTED]]
        lines += [f"warning: {w}" for w in self.warnings[:MAX_LISTED]]
        lines += [f"error: {e}" for e in self.errors[:MAX_LISTED]]
        return lines

    def __str__(self) -> str:
        return "\n".join(self.summary_lines())

    def _repr_html_(self) -> str:
        esc = html.escape
        rows = "".join(
            f"<tr><td>{esc(t.repository)}</td><td>{esc(t.tag)}</td><td><code>{esc((t.digest or '')[:19])}</code></td>"
            f"<td>{'delete' if t in self.deleted_tags else 'keep'}</td><td>{esc('; '.join(t.reasons))}</td></tr>"
            for t in self.plan.decisions[:500])
        summary = "<br>".join(esc(line) for line in self.summary_lines())
        return (f"<div><p>{summary}</p><table><thead><tr><th>repository</th><th>tag</th><th>digest</th>"
                f"<th>action</th><th>why</th></tr></thead><tbody>{rows}</tbody></table></div>")


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n} bytes"
