"""Logging: stdlib records with annotations in ``extra``, levels, minimum level, annotate_logs, log spans."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Never

import pytest

from durable_effect import Clock, Effect, Gen, Logger, LogLevel, StdlibLogger
from durable_effect.testing import TestClock

from ._support import advance, provided, run_with_clock

LOGGER = "durable_effect"


@pytest.fixture
def records(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """``caplog`` capturing the ``durable_effect`` logger from level 1 up."""
    caplog.set_level(1, logger=LOGGER)
    return caplog


def ours(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == LOGGER]


def test_log_writes_an_info_record_joining_the_message_parts(records: pytest.LogCaptureFixture) -> None:
    Effect.run_sync(Effect.log("hello", 42, {"k": 1}))
    [record] = ours(records)
    assert record.levelno == logging.INFO
    assert record.getMessage() == "hello 42 {'k': 1}"
    assert record.__dict__["annotations"] == {}
    assert record.__dict__["log_spans"] == {}


@pytest.mark.parametrize(
    ("make", "level"),
    [
        (Effect.log_info, logging.INFO),
        (Effect.log_warning, logging.WARNING),
        (Effect.log_error, logging.ERROR),
        (Effect.log_fatal, logging.CRITICAL),
    ],
)
def test_each_level_maps_onto_stdlib(
    make: Callable[[str], Effect[None, Never, Never]], level: int, records: pytest.LogCaptureFixture
) -> None:
    Effect.run_sync(make("message"))
    assert [r.levelno for r in ours(records)] == [level]


def test_log_level_values_map_onto_stdlib_levels() -> None:
    assert LogLevel.TRACE.value < logging.DEBUG
    assert [LogLevel.DEBUG.value, LogLevel.INFO.value, LogLevel.WARNING.value] == [10, 20, 30]
    assert [LogLevel.ERROR.value, LogLevel.FATAL.value] == [logging.ERROR, logging.CRITICAL]
    assert [level.name for level in LogLevel] == ["ALL", "TRACE", "DEBUG", "INFO", "WARNING", "ERROR", "FATAL", "NONE"]
    assert sorted(LogLevel, reverse=True) == list(LogLevel)[::-1]
    assert LogLevel.DEBUG < LogLevel.INFO <= LogLevel.INFO < LogLevel.NONE and LogLevel.FATAL > LogLevel.ERROR
    with pytest.raises(TypeError):
        assert LogLevel.INFO < 3  # type: ignore[operator]


def test_debug_and_trace_are_below_the_default_minimum(records: pytest.LogCaptureFixture) -> None:
    Effect.run_sync(Effect.log_debug("hidden").zip(Effect.log_trace("hidden too")))
    assert ours(records) == []


def test_with_minimum_log_level_lowers_and_raises_the_threshold(records: pytest.LogCaptureFixture) -> None:
    chatty = Effect.all([Effect.log_trace("t"), Effect.log_debug("d"), Effect.log_info("i"), Effect.log_warning("w")])
    Effect.run_sync(Logger.with_minimum_log_level(LogLevel.TRACE)(chatty))
    assert [r.getMessage() for r in ours(records)] == ["t", "d", "i", "w"]
    assert ours(records)[0].levelno == LogLevel.TRACE.value
    records.clear()
    Effect.run_sync(chatty.pipe(Logger.with_minimum_log_level(LogLevel.WARNING)))
    assert [r.getMessage() for r in ours(records)] == ["w"]
    records.clear()
    Effect.run_sync(Logger.with_minimum_log_level(LogLevel.NONE)(Effect.log_fatal("nothing")))
    assert ours(records) == []
    records.clear()
    Effect.run_sync(Logger.with_minimum_log_level(LogLevel.ALL)(Effect.log_trace("everything")))
    assert [r.getMessage() for r in ours(records)] == ["everything"]


def test_minimum_level_only_applies_inside_the_wrapped_effect(records: pytest.LogCaptureFixture) -> None:
    inner = Logger.with_minimum_log_level(LogLevel.DEBUG)(Effect.log_debug("inside"))
    Effect.run_sync(inner.zip(Effect.log_debug("outside")))
    assert [r.getMessage() for r in ours(records)] == ["inside"]


def test_stdlib_logger_level_still_filters(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger=LOGGER)
    Effect.run_sync(Effect.log_warning("dropped by stdlib").zip(Effect.log_error("kept")))
    assert [r.getMessage() for r in ours(caplog)] == ["kept"]


def test_annotate_logs_both_ways(records: pytest.LogCaptureFixture) -> None:
    Effect.run_sync(Effect.annotate_logs(job="sync", attempt=1)(Effect.log("wrapped")))
    Effect.run_sync(Effect.log("piped").pipe(Effect.annotate_logs(job="piped")))
    wrapped, piped = ours(records)
    assert wrapped.__dict__["annotations"] == {"job": "sync", "attempt": 1}
    assert "job=sync" in wrapped.getMessage() and "attempt=1" in wrapped.getMessage()
    assert piped.__dict__["annotations"] == {"job": "piped"}


def test_annotations_nest_merge_and_stay_inside(records: pytest.LogCaptureFixture) -> None:
    @Effect.fn
    def body() -> Gen[None, Never, Never]:
        yield from Effect.log("outer")
        yield from Effect.annotate_logs(step="b", extra=True)(Effect.log("inner"))
        yield from Effect.log("outer again")

    Effect.run_sync(Effect.annotate_logs(request="r1", step="a")(body()))
    Effect.run_sync(Effect.log("unannotated"))
    got = [(r.getMessage().split()[0], r.__dict__["annotations"]) for r in ours(records)]
    assert got == [
        ("outer", {"request": "r1", "step": "a"}),
        ("inner", {"request": "r1", "step": "b", "extra": True}),
        ("outer", {"request": "r1", "step": "a"}),
        ("unannotated", {}),
    ]


def test_annotations_survive_a_failure_and_are_removed_after(records: pytest.LogCaptureFixture) -> None:
    failing: Effect[None, str, Never] = Effect.annotate_logs(scope="inner")(Effect.fail("x"))
    eff = failing.catch_all(lambda _: Effect.log("handler"))
    Effect.run_sync(eff)
    assert ours(records)[0].__dict__["annotations"] == {}


@pytest.mark.anyio
async def test_with_log_span_reports_elapsed_time_from_the_clock(records: pytest.LogCaptureFixture) -> None:
    clock = TestClock(start=10_000)

    @Effect.fn
    def body() -> Gen[None, Never, Never]:
        yield from Effect.sleep(1_500)
        yield from Effect.log("in span")
        yield from Effect.sleep(500).flat_map(lambda _: Effect.log("inner")).with_log_span("inner")

    await run_with_clock(body().with_log_span("outer"), clock, advance("10 seconds"))
    first, second = ours(records)
    assert first.__dict__["log_spans"] == {"outer": 1_500}
    assert "outer=1500ms" in first.getMessage()
    assert second.__dict__["log_spans"] == {"outer": 2_000, "inner": 500}


def test_a_custom_logger_service_receives_everything() -> None:
    lines: list[tuple[LogLevel, tuple[object, ...], dict[str, object], tuple[tuple[str, int], ...], int]] = []

    class Collect:
        def log(
            self,
            level: LogLevel,
            message: tuple[object, ...],
            annotations: Mapping[str, object],
            spans: tuple[tuple[str, int], ...],
            now_ms: int,
        ) -> None:
            lines.append((level, message, dict(annotations), spans, now_ms))

    eff = Effect.annotate_logs(a=1)(Effect.log_error("x", 2).with_log_span("s"))
    Effect.run_sync(provided(eff.provide_service(Logger, Collect())))
    [(level, message, annotations, spans, now)] = lines
    assert (level, message, annotations) == (LogLevel.ERROR, ("x", 2), {"a": 1})
    assert [name for name, _start in spans] == ["s"]
    assert now > 0


def test_stdlib_logger_can_target_another_logger(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="my.app")
    Effect.run_sync(provided(Effect.log("to my app").provide_service(Logger, StdlibLogger("my.app"))))
    assert [(r.name, r.getMessage()) for r in caplog.records] == [("my.app", "to my app")]


def test_logging_reads_the_clock_service(records: pytest.LogCaptureFixture) -> None:
    clock = TestClock(start=5_000)
    Effect.run_sync(Effect.log("x").with_log_span("s").provide_service(Clock, clock))
    assert ours(records)[0].__dict__["log_spans"] == {"s": 0}
