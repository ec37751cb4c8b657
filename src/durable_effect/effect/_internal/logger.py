"""Logging as a service: levels, the ``Logger`` tag, annotations and spans carried by the fiber."""

from __future__ import annotations

import enum
import logging
import math
from collections.abc import Mapping
from typing import Never, Protocol, TypeVar

from .clock import now_millis
from .context import Context, FiberRef, Tag, lookup_service
from .core import Effect, Provide, ReadContext, Wrapper

B = TypeVar("B")
E2 = TypeVar("E2")
R2 = TypeVar("R2")


class LogLevel(enum.Enum):
    """Effect-TS log levels, each mapped onto a stdlib ``logging`` level (``value``)."""

    ALL = 0
    TRACE = 5
    DEBUG = logging.DEBUG
    INFO = logging.INFO
    WARNING = logging.WARNING
    ERROR = logging.ERROR
    FATAL = logging.CRITICAL
    NONE = math.inf

    def __ge__(self, other: LogLevel) -> bool:
        return _RANK[self] >= _RANK[other] if isinstance(other, LogLevel) else NotImplemented

    def __gt__(self, other: LogLevel) -> bool:
        return _RANK[self] > _RANK[other] if isinstance(other, LogLevel) else NotImplemented

    def __le__(self, other: LogLevel) -> bool:
        return _RANK[self] <= _RANK[other] if isinstance(other, LogLevel) else NotImplemented

    def __lt__(self, other: LogLevel) -> bool:
        return _RANK[self] < _RANK[other] if isinstance(other, LogLevel) else NotImplemented


_RANK = {level: float(level.value) for level in LogLevel}  # ``.value`` is a slow property on every comparison
level_rank = _RANK.__getitem__
"""A level's rank: ``LogLevel.NONE`` ranks above every other."""


class LoggerService(Protocol):
    """Receives every log line that passes the fiber's minimum level."""

    def log(
        self,
        level: LogLevel,
        message: tuple[object, ...],
        annotations: Mapping[str, object],
        spans: tuple[tuple[str, int], ...],
        now_ms: int,
    ) -> None: ...


class StdlibLogger:
    """Writes to ``logging.getLogger(name)``; annotations and spans go in ``extra`` and the text."""

    def __init__(self, name: str = "durable_effect") -> None:
        self._logger = logging.getLogger(name)

    def log(
        self,
        level: LogLevel,
        message: tuple[object, ...],
        annotations: Mapping[str, object],
        spans: tuple[tuple[str, int], ...],
        now_ms: int,
    ) -> None:
        stdlib_level = max(1, int(level.value)) if level is not LogLevel.NONE else logging.CRITICAL + 1
        if not self._logger.isEnabledFor(stdlib_level):
            return
        text = " ".join(str(part) for part in message)
        span_text = " ".join(f"{name}={now_ms - start}ms" for name, start in spans)
        annotation_text = " ".join(f"{key}={value}" for key, value in annotations.items())
        suffix = " ".join(part for part in (span_text, annotation_text) if part)
        self._logger.log(
            stdlib_level,
            f"{text} {suffix}" if suffix else text,
            extra={"annotations": dict(annotations), "log_spans": {name: now_ms - start for name, start in spans}},
        )


_DEFAULT_LOGGER = StdlibLogger()

ANNOTATIONS = FiberRef("log annotations", {})
SPANS = FiberRef("log spans", ())
MINIMUM_LEVEL = FiberRef("minimum log level", LogLevel.INFO)


class Logger(Tag["Logger", LoggerService]):
    """The logger every ``Effect.log*`` call writes to (stdlib ``logging`` unless replaced)."""

    @classmethod
    def default(cls) -> LoggerService:
        return _DEFAULT_LOGGER

    @staticmethod
    def with_minimum_log_level(level: LogLevel) -> Wrapper:
        """A wrapper that drops log lines below ``level`` inside the wrapped effect."""
        return Wrapper(lambda effect: Provide(effect, lambda ctx: {**ctx, MINIMUM_LEVEL: level}))


def log(level: LogLevel, message: tuple[object, ...]) -> Effect[None, Never, Never]:
    def emit(ctx: Context) -> Effect[None, Never, Never]:
        minimum: LogLevel = ctx.get(MINIMUM_LEVEL, MINIMUM_LEVEL.default)
        if level is not LogLevel.NONE and level >= minimum and minimum is not LogLevel.NONE:
            logger: LoggerService = lookup_service(ctx, Logger)
            logger.log(level, message, ctx.get(ANNOTATIONS, ANNOTATIONS.default), ctx.get(SPANS, ()), now_millis(ctx))
        return Effect.void

    return ReadContext(emit)


def annotate(effect: Effect[B, E2, R2], annotations: Mapping[str, object]) -> Effect[B, E2, R2]:
    def extend(ctx: Context) -> Context:
        return {**ctx, ANNOTATIONS: {**ctx.get(ANNOTATIONS, ANNOTATIONS.default), **annotations}}

    return Provide(effect, extend)


def annotate_at_level(
    effect: Effect[B, E2, R2], annotations: Mapping[str, object], level: LogLevel
) -> Effect[B, E2, R2]:
    """``annotate(effect, annotations)`` inside ``with_minimum_log_level(level)``, as one change of context."""

    def extend(ctx: Context) -> Context:
        merged = {**ctx.get(ANNOTATIONS, ANNOTATIONS.default), **annotations}
        return {**ctx, MINIMUM_LEVEL: level, ANNOTATIONS: merged}

    return Provide(effect, extend)


def with_log_span(effect: Effect[B, E2, R2], name: str) -> Effect[B, E2, R2]:
    def extend(ctx: Context) -> Context:
        return {**ctx, SPANS: (*ctx.get(SPANS, ()), (name, now_millis(ctx)))}

    return Provide(effect, extend)


