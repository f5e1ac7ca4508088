"""Kubernetes resource quantities (``100m``, ``0.5``, ``512Mi``, ``1e3``), parsed for comparison."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from mlrun_registry_ext.errors import ConfigError

_QUANTITY_RE = re.compile(
    r"^(?P<num>[+-]?(?:\d+\.?\d*|\.\d+))(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?\Z"
)
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "k": Decimal(10**3),
            "M": Decimal(10**6), "G": Decimal(10**9), "T": Decimal(10**12), "P": Decimal(10**15),
            "E": Decimal(10**18)}

ALLOWED_QUANTITY = "a Kubernetes quantity such as 250m, 0.5, 2 (CPU) or 512Mi, 1Gi, 1e9 (memory)"


def parse_quantity(value: str | int | float, field: str) -> Decimal:
    """Return the quantity in base units (cores or bytes); negative values are refused."""
    text = str(value).strip()
    match = _QUANTITY_RE.match(text)
    if not match:
        raise ConfigError(field, f"{text!r} is not {ALLOWED_QUANTITY}")
    try:
        number = Decimal(match["num"])
    except InvalidOperation as exc:  # pragma: no cover - the regex already guarantees a number
        raise ConfigError(field, f"{text!r} is not {ALLOWED_QUANTITY}") from exc
    suffix = match["suffix"] or ""
    if suffix in _BINARY:
        number *= _BINARY[suffix]
    elif suffix in _DECIMAL:
        number *= _DECIMAL[suffix]
    elif suffix:
        number *= Decimal(10) ** int(suffix[1:])
    if number < 0:
        raise ConfigError(field, f"{text!r} is negative; quantities must be >= 0")
    return number
