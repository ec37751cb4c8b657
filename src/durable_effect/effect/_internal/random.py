"""Randomness as a service, seedable for reproducible tests."""

from __future__ import annotations

import random as _random
from typing import Never

from .context import Tag
from .core import Effect, ServiceOp


class RandomService:
    """A source of random numbers; ``RandomService(seed)`` is reproducible."""

    def __init__(self, seed: int | None = None) -> None:
        # Unseeded generators draw OS entropy on first use rather than here, so a module may create one at
        # import time: Cloudflare Workers refuse entropy while a Worker starts up (module top level).
        self._generator = None if seed is None else _random.Random(seed)

    @property
    def _rng(self) -> _random.Random:
        generator = self._generator
        if generator is None:
            generator = self._generator = _random.Random()
        return generator

    def next_float(self) -> float:
        """A float in ``[0, 1)``."""
        return self._rng.random()

    def next_between(self, low: float, high: float) -> float:
        """A float in ``[low, high)``."""
        return low + (high - low) * self._rng.random()

    def next_int(self, low: int, high: int) -> int:
        """An int in ``[low, high]``."""
        return self._rng.randint(low, high)

    def next_bytes(self, n: int) -> bytes:
        return self._rng.randbytes(n)


_DEFAULT = RandomService()


class Random(Tag["Random", RandomService]):
    """The random source every randomised operation uses (jitter, ids)."""

    @classmethod
    def default(cls) -> RandomService:
        return _DEFAULT

    @staticmethod
    def next() -> Effect[float, Never, Never]:
        """A float in ``[0, 1)`` from the random source in use."""
        return ServiceOp(Random).map(lambda rng: rng.next_float())

    @staticmethod
    def seeded(seed: int) -> RandomService:
        return RandomService(seed)
