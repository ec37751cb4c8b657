"""Strict JSON for what the host reads from outside (request bodies, command arguments)."""

from __future__ import annotations

import json
import math
from typing import Any

MAX_DEPTH = 64
"""How deeply arrays and objects may nest in what the host reads (the engine walks values recursively)."""


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range for a JSON number")
    return value


def loads_strict(text: str | bytes) -> Any:
    """``json.loads`` refusing what no JSON store keeps and what the host could not send back: ``NaN`` and
    ``Infinity`` (nor numbers too large to be finite), strings with lone surrogates (``"\\ud800"`` is valid
    JSON text but no Unicode), and nesting deeper than :data:`MAX_DEPTH`. Raises ``ValueError``."""
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        raise ValueError(f"nested more than {MAX_DEPTH} levels deep") from None
    _check(value)
    return value


def _check(value: Any) -> None:
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                raise ValueError(f"nested more than {MAX_DEPTH} levels deep")
            if isinstance(item, dict):
                for key in item:
                    _check_text(key)
                pending.extend((member, depth + 1) for member in item.values())
            else:
                pending.extend((member, depth + 1) for member in item)


def _check_text(text: str) -> None:
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"a string holds a lone surrogate ({text!r} is not Unicode text)") from None
