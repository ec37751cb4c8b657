"""The example jobs with second-scale timings, for the workerd tests (embedded as the module ``fast_jobs``).

Schemas and handlers come from ``examples/demo_jobs.py`` (embedded as ``demo_jobs``); only the timings
differ: the token refresher runs every second, the webhook batch flushes 1.5 s after its first event, and an
unpaid order expires after 1.5 s. ``slow_counter`` adds one to its state per event after sleeping 200 ms, to
show that events to one instance never interleave although its handler awaits. Telemetry goes to
``http://collector.test/events``; the test's workerd config sends every outbound ``fetch`` to its own
collector.

The states and events are plain dataclasses (``DataclassSchema``): no Pyodide build of ``pydantic-core``
can be installed here, and the library does not import pydantic for them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Never

from durable_effect import Effect, Gen
from durable_effect.jobs import (
    Continuous,
    Debounce,
    Task,
    TaskEventContext,
    TaskExecuteContext,
    TrackerConfig,
    create_durable_jobs,
)

if TYPE_CHECKING:  # the Worker's modules are flat; in this repository they live in packages
    from examples.demo_jobs import (
        Order,
        OrderEvent,
        Tokens,
        WebhookBatch,
        WebhookEvent,
        collect_webhook,
        deliver_webhooks,
        expire_order,
        refresh_tokens,
    )

else:
    from demo_jobs import (
        Order,
        OrderEvent,
        Tokens,
        WebhookBatch,
        WebhookEvent,
        collect_webhook,
        deliver_webhooks,
        expire_order,
        refresh_tokens,
    )

INTERVAL = "1 second"
FLUSH_AFTER = "1500 millis"
ORDER_TIMEOUT = "1500 millis"
COLLECTOR_URL = "http://collector.test/events"


@Effect.fn
def on_order_event(event: OrderEvent, ctx: TaskEventContext[Order]) -> Gen[None, Never, Never]:
    order = yield from ctx.state
    if event.kind == "placed":
        yield from ctx.set_state(Order(status="awaiting_payment", amount_cents=event.amount_cents))
        yield from ctx.schedule(ORDER_TIMEOUT)
    elif event.kind == "paid" and order is not None:
        yield from ctx.set_state(replace(order, status="paid"))
        yield from ctx.cancel_schedule()
    elif event.kind == "shipped" and order is not None:
        yield from ctx.set_state(replace(order, status="shipped"))
        yield from ctx.terminate()


@dataclass(frozen=True)
class Count:
    n: int = 0


@dataclass(frozen=True)
class Bump:
    label: str = ""


@Effect.fn
def slow_bump(event: Bump, ctx: TaskEventContext[Count]) -> Gen[None, Never, Never]:
    count = yield from ctx.state
    yield from Effect.sleep("200 millis")  # other events to this instance arrive meanwhile
    yield from ctx.set_state(Count(n=(count.n if count is not None else 0) + 1))


def nothing_to_do(ctx: TaskExecuteContext[Count]) -> Effect[None, Never, Never]:
    return Effect.succeed(None)


jobs = create_durable_jobs(
    {
        "token_refresher": Continuous.make(
            state_schema=Tokens, schedule=Continuous.every(INTERVAL), execute=refresh_tokens
        ),
        "webhook_batcher": Debounce.make(
            event_schema=WebhookEvent,
            state_schema=WebhookBatch,
            on_event=collect_webhook,
            execute=deliver_webhooks,
            flush_after=FLUSH_AFTER,
            max_events=5,
        ),
        "order_processor": Task.make(
            state_schema=Order, event_schema=OrderEvent, on_event=on_order_event, execute=expire_order
        ),
        "slow_counter": Task.make(state_schema=Count, event_schema=Bump, on_event=slow_bump, execute=nothing_to_do),
    },
    tracker=TrackerConfig(endpoint=COLLECTOR_URL, env="workerd-test", service_key="durable-effect", batch_size=50),
)
