"""The durable-effect demo: three jobs on the embedded SQLite host, two hours of job time in about 15 seconds.

    python examples/demo.py            # uses a temporary directory
    python examples/demo.py --db demo.sqlite --factor 600

It runs the jobs of ``examples/demo_jobs.py`` (a token refresher every 30 minutes, a webhook batcher that
flushes 10 seconds after a batch's first event or at 5 events, and an order state machine that cancels an
unpaid order after 15 minutes) on ``durable_effect.host.Host`` with a real SQLite file. The host's clock is
an ``AcceleratedClock``: the library's own Clock service running faster than real time, so the scheduler,
the jobs and the telemetry all see the same accelerated time. Job logs and telemetry events are printed as
they happen; then the host is stopped and started again from the same file to show that nothing was lost.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

if __package__ in (None, ""):  # run as a script: make `examples` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from durable_effect import Effect
from durable_effect.host import AcceleratedClock, Host
from durable_effect.jobs import Event
from examples.demo_jobs import (
    OrderEvent,
    Tokens,
    WebhookEvent,
    jobs,
    order_processor,
    token_refresher,
    webhook_batcher,
)

MINUTE = 60_000


class Timeline:
    """Prints lines stamped with job time since the start of the demo."""

    def __init__(self, clock: AcceleratedClock) -> None:
        self.clock = clock
        self.start = clock.current_time_millis()

    def stamp(self, at: int | None = None) -> str:
        elapsed = (self.clock.current_time_millis() if at is None else at) - self.start
        seconds = max(0, elapsed) // 1000
        return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"

    def say(self, kind: str, text: str) -> None:
        print(f"  {self.stamp()}  {kind:<18} {text}", flush=True)

    def section(self, title: str) -> None:
        print(f"\n  {self.stamp()}  == {title}", flush=True)

    def at(self, epoch_ms: int | None) -> str:
        return "-" if epoch_ms is None else f"T+{self.stamp(epoch_ms)}"

    async def wait_until(self, minutes: float) -> None:
        """Let job time pass until ``minutes`` after the start (the host keeps running meanwhile)."""
        target = self.start + int(minutes * MINUTE)
        await self.clock.sleep(target - self.clock.current_time_millis())


def describe(event: Event, timeline: Timeline) -> str:
    kind = event["type"]
    who = str(event["instance_id"]).split(":", 1)[1]
    if kind == "job.executed":
        return f"{who}  run {event['run_count']} took {event['duration_ms']} ms"
    if kind == "debounce.started":
        return f"{who}  batch opened, flush at {timeline.at(event['flush_at'])}"
    if kind == "debounce.flushed":
        return f"{who}  {event['event_count']} events flushed ({event['reason']})"
    if kind == "task.scheduled":
        return f"{who}  alarm set for {timeline.at(event['scheduled_at'])} (by {event['trigger']})"
    if kind == "job.terminated":
        return f"{who}  terminated" + (f" ({event['reason']})" if event.get("reason") else "")
    if kind == "job.failed":
        return f"{who}  failed: {event['error']['message']}"
    return who


class JobLogs(logging.Handler):
    """Shows the jobs' own ``Effect.log_*`` lines on the timeline."""

    def __init__(self, timeline: Timeline) -> None:
        super().__init__(logging.INFO)
        self.timeline = timeline

    def emit(self, record: logging.LogRecord) -> None:
        annotations: dict[str, Any] = getattr(record, "annotations", {})
        text = record.getMessage()
        suffix = " ".join(f"{key}={value}" for key, value in annotations.items())
        if suffix and text.endswith(suffix):
            text = text[: -len(suffix)].rstrip()
        who = str(annotations.get("instance_id", record.name)).split(":", 1)[-1]
        self.timeline.say("log", f"{who}  {text}")


async def main(db: Path, factor: float) -> None:
    clock = AcceleratedClock(factor)
    timeline = Timeline(clock)
    handler = JobLogs(timeline)
    logger = logging.getLogger("durable_effect")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False

    def on_events(events: list[Event]) -> None:
        for event in events:
            timeline.say(event["type"], describe(event, timeline))

    print("durable-effect demo: three durable jobs on the embedded SQLite host")
    print(f"  database   {db}")
    print(
        f"  clock      AcceleratedClock(factor={factor:g}), the library's Clock service: 1 real second = "
        f"{factor / 60:g} minutes of job time.\n             Every time below is job time since the start "
        "(HH:MM:SS); the whole demo takes about 15 real seconds."
    )
    print(
        "  durability synchronous=NORMAL: a commit survives a crash of this process (the default, FULL, also\n"
        "             survives a power cut, at the price of waiting for the disk on every commit)"
    )
    real_start = time.monotonic()
    # NORMAL: a commit survives a crash of this process; the default, FULL, also survives a power cut but
    # waits for the disk on every commit (a few ms while a fresh file grows) -- minutes of job time here.
    async with Host(jobs, db, clock=clock, on_events=on_events, synchronous="NORMAL") as host:
        client = host.client()
        refresher = client.continuous(token_refresher)
        batcher = client.debounce(webhook_batcher)
        orders = client.task(order_processor)

        timeline.section("token_refresher: start user-123 (runs now, then every 30 minutes)")
        await Effect.run_promise(
            refresher.start("user-123", input=Tokens(access_token="", refresh_token="rt-user-123"))
        )

        timeline.section("webhook_batcher: 3 events for endpoint acme (flushes 10 s after the first)")
        for kind in ("push", "issue", "push"):
            added = await Effect.run_promise(
                batcher.add("acme", event=WebhookEvent(type=kind, payload={"repo": "api"}))
            )
            timeline.say("client", f"add {kind!r} -> event_count={added.event_count}")
        timeline.section("webhook_batcher: 5 events for endpoint globex (the 5th flushes at once)")
        for n in range(5):
            await Effect.run_promise(batcher.add("globex", event=WebhookEvent(type=f"ping-{n + 1}")))

        timeline.section("order_processor: order-1 placed, paid, shipped; order-2 placed and never paid")
        await Effect.run_promise(orders.send("order-1", event=OrderEvent(kind="placed", amount_cents=4_200)))
        await Effect.run_promise(orders.send("order-2", event=OrderEvent(kind="placed", amount_cents=990)))
        await timeline.wait_until(5)
        await Effect.run_promise(orders.send("order-1", event=OrderEvent(kind="paid")))
        state = await Effect.run_promise(orders.get_state("order-1"))
        timeline.say("client", f"order-1 state: {state.state}, alarm {timeline.at(state.scheduled_at)}")
        await Effect.run_promise(orders.send("order-1", event=OrderEvent(kind="shipped")))

        timeline.section("letting job time pass: the scheduler fires due alarms")
        await timeline.wait_until(20)
        state = await Effect.run_promise(orders.get_state("order-2"))
        timeline.say("client", f"order-2 state: {state.state}")
        await timeline.wait_until(61)
        tokens = await Effect.run_promise(refresher.get_state("user-123"))
        timeline.say("client", f"user-123 tokens: access_token={tokens.access_token}")

        timeline.section("instances in the database")
        for row in await host.list_instances():
            print(f"             {row.instance_id:<38} {row.status:<10} next alarm {timeline.at(row.next_alarm)}")

    timeline.section("host stopped; starting a new host from the same file")
    async with Host(jobs, db, clock=clock, on_events=on_events, synchronous="NORMAL") as host:
        status = await Effect.run_promise(host.client().continuous(token_refresher).status("user-123"))
        timeline.say(
            "client", f"user-123: {status.status}, {status.run_count} runs, next {timeline.at(status.next_run_at)}"
        )
        await timeline.wait_until(121)
        status = await Effect.run_promise(host.client().continuous(token_refresher).status("user-123"))
        timeline.say("client", f"user-123: {status.status}, {status.run_count} runs")

    logger.removeHandler(handler)
    real = time.monotonic() - real_start
    stamp = dt.datetime.fromtimestamp(clock.current_time_millis() / 1000, tz=dt.UTC).strftime("%H:%M")
    print(f"\ndone: about 2 hours of job time (the clock reads {stamp} UTC) in {real:.1f} real seconds.")
    if not str(db.parent).startswith(tempfile.gettempdir()):
        print(f"Look inside: durable-effect list --db {db}")


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--db", type=Path, default=None, help="the SQLite file (default: a temporary directory)")
    parser.add_argument("--factor", type=float, default=480, help="clock acceleration (default: 480)")
    args = parser.parse_args()
    if args.db is not None:
        if args.db.exists():
            sys.exit(f"{args.db} exists: the demo wants a fresh file (its clock runs ahead of real time)")
        anyio.run(main, args.db, args.factor)
        return
    with tempfile.TemporaryDirectory(prefix="durable-effect-demo-") as directory:
        anyio.run(main, Path(directory) / "demo.sqlite", args.factor)


if __name__ == "__main__":
    cli()
