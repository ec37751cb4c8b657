"""Logging: the ``logging`` option sets the level of the engine's logs and of the handlers' own logs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Never

import pytest

from durable_effect import Effect, Gen, LogLevel
from durable_effect.jobs import (
    Backoff,
    Continuous,
    ContinuousContext,
    Debounce,
    DebounceExecuteContext,
    ExecutionError,
    RetryConfig,
    create_durable_jobs,
)
from durable_effect.testing import JobsHarness

from ._support import START, run


@dataclass(frozen=True)
class Count:
    n: int


@Effect.fn
def chatty(ctx: ContinuousContext[Count]) -> Gen[None, ValueError, Never]:
    state = yield from ctx.state
    yield from Effect.log_debug("user debug")
    yield from Effect.log_info("user info")
    yield from Effect.log_error("user error")
    if state.n < 0:
        yield from Effect.fail(ValueError("negative"))


def harness(jobs_harness: Callable[..., JobsHarness], option: bool | LogLevel, retry: RetryConfig | None = None) -> Any:
    job = Continuous.make(
        state_schema=Count, schedule=Continuous.every("1 minute"), execute=chatty, logging=option, retry=retry
    )
    h = jobs_harness(create_durable_jobs({"chatty": job}), start_time=START)
    return h, h.client.continuous(job)


def lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage().split(" job_type=")[0]) for r in caplog.records if r.name == "durable_effect"]


@pytest.fixture
def debug_caplog(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="durable_effect")
    return caplog


@pytest.mark.anyio
async def test_default_logs_errors_only(
    jobs_harness: Callable[..., JobsHarness], debug_caplog: pytest.LogCaptureFixture
) -> None:
    _h, client = harness(jobs_harness, False)
    await run(client.start("a", input=Count(0)))
    assert lines(debug_caplog) == [("ERROR", "user error")]
    debug_caplog.clear()

    with pytest.raises(ExecutionError):
        await run(client.start("b", input=Count(-1)))

    assert lines(debug_caplog) == [
        ("ERROR", "user error"),
        ("ERROR", "execution failed (ValueError: negative)"),
    ]


@pytest.mark.anyio
async def test_true_logs_debug_with_job_annotations(
    jobs_harness: Callable[..., JobsHarness], debug_caplog: pytest.LogCaptureFixture
) -> None:
    _h, client = harness(jobs_harness, True)

    await run(client.start("a", input=Count(0)))

    assert lines(debug_caplog) == [
        ("DEBUG", "started (every 1 minute)"),
        ("DEBUG", "user debug"),
        ("INFO", "user info"),
        ("ERROR", "user error"),
        ("DEBUG", "run 1 succeeded (attempt 1, 0 ms)"),
    ]
    for record in debug_caplog.records:
        annotations: Any = getattr(record, "annotations", None)
        assert annotations == {"job_type": "continuous", "job_name": "chatty", "instance_id": "continuous:chatty:a"}
        assert "instance_id=continuous:chatty:a" in record.getMessage()


@pytest.mark.anyio
async def test_a_level_filters_engine_and_user_logs(
    jobs_harness: Callable[..., JobsHarness], debug_caplog: pytest.LogCaptureFixture
) -> None:
    retry = RetryConfig(max_attempts=2, delay=Backoff.constant("1 second"), jitter=False)
    h, client = harness(jobs_harness, LogLevel.WARNING, retry)

    await run(client.start("a", input=Count(-1)))
    await h.advance("1 second")

    assert lines(debug_caplog) == [
        ("ERROR", "user error"),
        ("WARNING", "attempt 1 failed (ValueError: negative); retrying"),
        ("ERROR", "user error"),
        ("ERROR", "retries exhausted after 2 attempts (ValueError: negative)"),
    ]


@pytest.mark.anyio
async def test_none_silences_everything(
    jobs_harness: Callable[..., JobsHarness], debug_caplog: pytest.LogCaptureFixture
) -> None:
    _h, client = harness(jobs_harness, LogLevel.NONE)
    with pytest.raises(ExecutionError):
        await run(client.start("a", input=Count(-1)))
    assert lines(debug_caplog) == []


@pytest.mark.anyio
async def test_a_dropped_debounce_batch_is_logged_as_an_error(
    jobs_harness: Callable[..., JobsHarness], debug_caplog: pytest.LogCaptureFixture
) -> None:
    def deliver(ctx: DebounceExecuteContext[Count]) -> Effect[None, Never, Never]:
        return Effect.die(RuntimeError("down"))

    job = Debounce.make(event_schema=Count, execute=deliver, flush_after="1 second")
    h = jobs_harness(create_durable_jobs({"d": job}), start_time=START)
    await run(h.client.debounce(job).add("k", event=Count(1)))

    await h.advance("1 second")

    assert lines(debug_caplog) == [("ERROR", "flush of 1 events failed (defect: RuntimeError: down); batch dropped")]


def test_invalid_logging_option() -> None:
    loud: Any = "loud"
    with pytest.raises(TypeError):
        Continuous.make(state_schema=Count, schedule=Continuous.every("1 minute"), execute=chatty, logging=loud)
