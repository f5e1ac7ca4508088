"""What Python 3.10 and 3.11 added that the package uses, spelled so that Python 3.9 runs it too.

MLRun's Jupyter images up to MLRun 1.7 run Python 3.9, and the version gate accepts MLRun clients back to
1.0.5, so the package runs from 3.9 on (``vermin -t=3.9-`` in scripts/test.sh keeps it so). One place for
the difference, so that the rest of the code reads as plain modern Python:

- :class:`TextEnum`: ``enum.StrEnum`` (3.11): members are their value as text (``str(member)``,
  f-strings, JSON and comparisons with plain strings);
- :func:`slotted`: ``dataclass(slots=True, kw_only=...)`` (3.10): per-instance memory (the migration
  keeps one record per tag) and keyword-only construction of the records with many text fields;
- :func:`zip_strict`: ``zip(strict=True)`` (3.10) where unequal lengths would be a bug.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
from collections.abc import Callable, Iterable, Iterator
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeVar, cast

_T = TypeVar("_T")
_A = TypeVar("_A")
_B = TypeVar("_B")

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform
else:
    def dataclass_transform(**_options: Any) -> Callable[[_T], _T]:
        return lambda function: function


class TextEnum(str, Enum):
    """``StrEnum``: a member is a ``str`` equal to its value, and prints and formats as its value."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return str(self.value).__format__(spec)


@dataclass_transform(field_specifiers=(dataclasses.field, dataclasses.Field))
def slotted(*, frozen: bool = False, kw_only: bool = False, init: bool = True,
            eq: bool = True) -> Callable[[type[_T]], type[_T]]:
    """``@dataclass(slots=True, ...)``: on 3.10+ exactly that; on 3.9 the same class built by hand.

    On 3.9 the dataclass is made first, then rebuilt with ``__slots__`` (what 3.10's ``slots=True``
    does), and ``kw_only`` is kept by an ``__init__`` that refuses positional arguments.
    """
    def wrap(cls: type[_T]) -> type[_T]:
        if sys.version_info >= (3, 10):
            return dataclasses.dataclass(cls, frozen=frozen, init=init, eq=eq, slots=True, kw_only=kw_only)  # novermin
        made = dataclasses.dataclass(cls, frozen=frozen, init=init, eq=eq)
        if kw_only and init:
            _keyword_only_init(made)
        return _with_slots(made)
    return wrap


def _keyword_only_init(cls: type) -> None:
    positional_init = cls.__init__  # type: ignore[misc]

    @functools.wraps(positional_init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if args:
            raise TypeError(f"{cls.__name__}() takes keyword arguments only")
        positional_init(self, **kwargs)

    cls.__init__ = __init__  # type: ignore[misc]


def _with_slots(cls: type[_T]) -> type[_T]:
    names = tuple(item.name for item in dataclasses.fields(cls))  # type: ignore[arg-type]
    body = dict(cls.__dict__)
    for name in names:
        body.pop(name, None)  # the defaults live in __init__ (and in the fields), not as class attributes
    body.pop("__dict__", None)
    body.pop("__weakref__", None)
    body["__slots__"] = names
    metaclass: Any = type(cls)
    rebuilt = metaclass(cls.__name__, cls.__bases__, body)
    rebuilt.__qualname__ = cls.__qualname__
    if rebuilt.__dataclass_params__.frozen:
        # frozen and slotted: pickle through the fields (there is no __dict__ to restore)
        rebuilt.__getstate__ = _frozen_getstate
        rebuilt.__setstate__ = _frozen_setstate
    return cast("type[_T]", rebuilt)


def _frozen_getstate(self: Any) -> list[Any]:
    return [getattr(self, item.name) for item in dataclasses.fields(self)]


def _frozen_setstate(self: Any, state: list[Any]) -> None:
    for item, value in zip(dataclasses.fields(self), state):
        object.__setattr__(self, item.name, value)


def zip_strict(first: Iterable[_A], second: Iterable[_B]) -> Iterator[tuple[_A, _B]]:
    """``zip(first, second, strict=True)``: pairs, and ``ValueError`` when the lengths differ."""
    if sys.version_info >= (3, 10):
        return zip(first, second, strict=True)  # novermin
    return _zip_checked(first, second)


def _zip_checked(first: Iterable[_A], second: Iterable[_B]) -> Iterator[tuple[_A, _B]]:
    missing = object()
    left, right = iter(first), iter(second)
    while True:
        a = next(left, missing)
        b = next(right, missing)
        if a is missing or b is missing:
            if a is not b:
                raise ValueError("zip_strict: the iterables have different lengths")
            return
        yield a, b  # type: ignore[misc]
