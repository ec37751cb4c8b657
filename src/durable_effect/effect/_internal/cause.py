"""Why an effect failed: expected errors, defects and interruption, and how they compose."""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, Never, TypeVar

E = TypeVar("E", covariant=True)


class Cause(Generic[E]):
    """The full story of a failure: ``Fail``, ``Die``, ``Interrupt`` or a composition of those."""

    __slots__ = ()

    def _leaves(self) -> Iterator[Cause[E]]:
        """The leaves left to right, without recursion: causes built by many failing finalizers nest deeply."""
        pending: list[Cause[E]] = [self]
        while pending:
            cause = pending.pop()
            if isinstance(cause, Sequential | Parallel):
                pending.append(cause.right)
                pending.append(cause.left)
            else:
                yield cause

    def failures(self) -> list[E]:
        """Every expected error in this cause, in order."""
        return [leaf.error for leaf in self._leaves() if isinstance(leaf, Fail)]

    def defects(self) -> list[BaseException]:
        """Every unexpected exception (defect) in this cause, in order."""
        return [leaf.defect for leaf in self._leaves() if isinstance(leaf, Die)]

    def is_interrupted(self) -> bool:
        """True when the effect was interrupted (cancelled)."""
        return any(isinstance(leaf, Interrupt) for leaf in self._leaves())

    def is_failure_only(self) -> bool:
        """True when the cause holds expected errors and nothing else."""
        return all(isinstance(leaf, Fail) for leaf in self._leaves())

    def pretty(self) -> str:
        """A readable multi-line rendering, with tracebacks of defects."""
        lines: list[str] = []
        for leaf in self._leaves():
            if isinstance(leaf, Fail):
                lines.append(f"Fail: {leaf.error!r}")
            elif isinstance(leaf, Die):
                tb = "".join(traceback.format_exception(leaf.defect)).rstrip()
                lines.append(f"Die: {tb}")
            elif isinstance(leaf, Interrupt):
                lines.append("Interrupt")
        return "\n".join(lines) if lines else "Empty"

    def __add__(self, other: Cause[E]) -> Cause[E]:
        return Sequential(self, other)


@dataclass(frozen=True, slots=True)
class Fail(Cause[E]):
    """An expected, typed error."""

    error: E


@dataclass(frozen=True, slots=True)
class Die(Cause[Never]):
    """An unexpected exception (a defect): a bug or a broken invariant."""

    defect: BaseException

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Die) and (
            other.defect is self.defect
            or (type(other.defect) is type(self.defect) and other.defect.args == self.defect.args)
        )

    def __hash__(self) -> int:
        return hash((type(self.defect), self.defect.args))


@dataclass(frozen=True, slots=True)
class Interrupt(Cause[Never]):
    """The effect was interrupted before it finished."""


@dataclass(frozen=True, slots=True)
class Sequential(Cause[E]):
    """``left`` happened, then ``right`` happened (e.g. a failing finalizer after a failure)."""

    left: Cause[E]
    right: Cause[E]


@dataclass(frozen=True, slots=True)
class Parallel(Cause[E]):
    """``left`` and ``right`` happened in concurrent fibers."""

    left: Cause[E]
    right: Cause[E]
