"""Three example jobs used by the demo, the docs and the Cloudflare example.

- ``token_refresher`` (Continuous): refreshes an OAuth-style access token every 30 minutes.
- ``webhook_batcher`` (Debounce): batches webhook events per endpoint; flushes 10 seconds after the first
  event of a batch, or at 5 events.
- ``order_processor`` (Task): an order state machine; an unpaid order is cancelled 15 minutes after it was
  placed by the task's own alarm.

States and events are plain dataclasses (validated by ``DataclassSchema``), so the same definitions run where
pydantic is not installed, such as Cloudflare's Python Workers here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Literal, Never

from durable_effect import Clock, Effect, Gen
from durable_effect.jobs import (
    Continuous,
    ContinuousContext,
    Debounce,
    DebounceEventContext,
    DebounceExecuteContext,
    RetryConfig,
    Task,
    TaskEventContext,
    TaskExecuteContext,
    create_durable_jobs,
)

# ---------------------------------------------------------------- token refresher


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_at: int = 0


@Effect.fn
def refresh_tokens(ctx: ContinuousContext[Tokens]) -> Gen[None, Never, Never]:
    tokens = yield from ctx.state
    now = yield from Clock.current_time_millis()
    # A real job would call the identity provider here; the demo derives a new token deterministically.
    digest = hashlib.sha256(f"{tokens.refresh_token}:{ctx.run_count}".encode()).hexdigest()[:16]
    yield from ctx.set_state(replace(tokens, access_token=f"at-{digest}", expires_at=now + 3_600_000))
    yield from Effect.log_info(f"refreshed access token (run {ctx.run_count})")


token_refresher = Continuous.make(
    state_schema=Tokens,
    schedule=Continuous.every("30 minutes"),
    execute=refresh_tokens,
    retry=RetryConfig(max_attempts=3),
    logging=True,
)

# ---------------------------------------------------------------- webhook batcher


@dataclass(frozen=True)
class WebhookEvent:
    type: str
    payload: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WebhookBatch:
    events: list[WebhookEvent] = field(default_factory=list)


def collect_webhook(ctx: DebounceEventContext[WebhookEvent, WebhookBatch]) -> Effect[WebhookBatch, Never, Never]:
    batch = ctx.state or WebhookBatch()
    return Effect.succeed(WebhookBatch(events=[*batch.events, ctx.event]))


@Effect.fn
def deliver_webhooks(ctx: DebounceExecuteContext[WebhookBatch]) -> Gen[None, Never, Never]:
    batch = yield from ctx.state
    kinds = ", ".join(event.type for event in batch.events)
    yield from Effect.log_info(f"delivered {len(batch.events)} webhook events ({ctx.flush_reason}): {kinds}")


webhook_batcher = Debounce.make(
    event_schema=WebhookEvent,
    state_schema=WebhookBatch,
    on_event=collect_webhook,
    execute=deliver_webhooks,
    flush_after="10 seconds",
    max_events=5,
    logging=True,
)

# ---------------------------------------------------------------- order processor


@dataclass(frozen=True)
class OrderEvent:
    kind: Literal["placed", "paid", "shipped"]
    amount_cents: int = 0


@dataclass(frozen=True)
class Order:
    status: Literal["awaiting_payment", "paid", "shipped", "cancelled"]
    amount_cents: int


@Effect.fn
def on_order_event(event: OrderEvent, ctx: TaskEventContext[Order]) -> Gen[None, Never, Never]:
    order = yield from ctx.state
    if event.kind == "placed":
        yield from ctx.set_state(Order(status="awaiting_payment", amount_cents=event.amount_cents))
        yield from ctx.schedule("15 minutes")  # cancel unless paid by then
    elif event.kind == "paid" and order is not None:
        yield from ctx.set_state(replace(order, status="paid"))
        yield from ctx.cancel_schedule()
    elif event.kind == "shipped" and order is not None:
        yield from ctx.set_state(replace(order, status="shipped"))
        yield from ctx.terminate()
    yield from Effect.log_info(f"order event {event.kind}")


@Effect.fn
def expire_order(ctx: TaskExecuteContext[Order]) -> Gen[None, Never, Never]:
    order = yield from ctx.state
    if order is not None and order.status == "awaiting_payment":
        yield from ctx.set_state(replace(order, status="cancelled"))
        yield from Effect.log_warning("order cancelled: not paid within 15 minutes")


order_processor = Task.make(
    state_schema=Order,
    event_schema=OrderEvent,
    on_event=on_order_event,
    execute=expire_order,
    logging=True,
)

jobs = create_durable_jobs(
    {"token_refresher": token_refresher, "webhook_batcher": webhook_batcher, "order_processor": order_processor}
)
