"""Helpers shared by the jobs tests (public API only)."""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

from durable_effect import Effect

A = TypeVar("A")

START = 1_700_000_000_000
"""2023-11-14T22:13:20Z, the virtual epoch most tests start at."""

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR


async def run(effect: Effect[A, Any, Any]) -> A:
    """Run a client effect (its requirements are ``Never``)."""
    return await Effect.run_promise(effect)


def utc_ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    """An epoch-ms instant given in UTC."""
    return int(dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC).timestamp() * 1000)
