"""Typed notes: a stable machine-readable ``code`` and the text people read.

Adapters and tools match on the code, never on the text (the text may be reworded).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Note:
    """One note (of a push target, a provider's build rules, ...): ``code`` for machines, ``text`` for people."""

    code: str
    text: str

    def __str__(self) -> str:
        return self.text
