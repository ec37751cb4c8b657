"""Strict JSON for what the host reads from outside (request bodies, command arguments)."""

from __future__ import annotations

import json
import math
from typing import Any


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range for a JSON number")
    return value


def loads_strict(text: str | bytes) -> Any:
    """``json.loads`` without the non-standard ``NaN``/``Infinity`` (nor numbers too large to be finite): no
    JSON store keeps them. Raises ``ValueError`` for invalid JSON, ``RecursionError`` for too deep nesting."""
    return json.loads(text, parse_constant=_no_constant, parse_float=_finite)
