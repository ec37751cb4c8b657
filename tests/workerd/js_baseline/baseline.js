// A hand-written JavaScript Durable Object doing the storage work of a `Jobs` object, for the latency
// benchmark (benchmarks/cloudflare_latency.py). It serves the same wire protocol for the example's
// order task (`send` with kind "placed" / "paid", `status`): JSON text in, JSON text out, one object per
// instance name, the record as JSON text under one key, the alarm as the object's alarm, and the same
// storage operations per call (the record is kept in memory after the first read; a change writes it back
// with put + setAlarm/deleteAlarm issued together, without an await between them).
//
// The `Default` entry point is the benchmark's driver: it calls either this class (JS_JOBS) or the Python
// `Jobs` class (PY_JOBS, bound across services) over RPC from JavaScript, so both are measured the same way.
import { DurableObject, WorkerEntrypoint } from "cloudflare:workers";

const RECORD_KEY = "record";
const ORDER_TIMEOUT_MS = 15 * 60_000;

export class BaselineJobs extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.cached = undefined; // undefined: not read yet; null: no record; else JSON text
    this.ops = { reads: 0, writes: 0, alarm_writes: 0, calls: 0, alarms: 0 };
  }

  async load() {
    if (this.cached === undefined) {
      const text = await this.ctx.storage.get(RECORD_KEY);
      this.ops.reads++;
      this.cached = typeof text === "string" ? text : null;
    }
    return this.cached === null ? null : JSON.parse(this.cached);
  }

  async save(record, alarmChanged) {
    const text = JSON.stringify(record);
    const write = this.ctx.storage.put(RECORD_KEY, text);
    let schedule = null;
    if (alarmChanged) {
      schedule = record.alarm === null ? this.ctx.storage.deleteAlarm() : this.ctx.storage.setAlarm(record.alarm);
      this.ops.alarm_writes++;
    }
    await write;
    if (schedule !== null) await schedule;
    this.ops.writes++;
    this.cached = text;
  }

  async call(requestJson) {
    this.ops.calls++;
    const request = JSON.parse(requestJson);
    const name = `${request.job_type}:${request.job_name}:${request.id}`;
    const record = await this.load();
    if (request.op === "status") {
      const value =
        record === null
          ? { status: "not_found", scheduled_at: null, event_count: 0, execute_count: 0 }
          : {
              status: record.alarm === null ? "idle" : "active",
              scheduled_at: record.alarm,
              event_count: record.event_count,
              execute_count: record.execute_count,
            };
      return JSON.stringify({ ok: true, value });
    }
    if (request.op !== "send") {
      return JSON.stringify({ ok: false, error: { _tag: "InvalidStateError", message: request.op } });
    }
    const event = request.payload;
    if (typeof event !== "object" || event === null || !["placed", "paid", "shipped"].includes(event.kind)) {
      const issues = ["kind: expected one of ['placed', 'paid', 'shipped']"];
      return JSON.stringify({ ok: false, error: { _tag: "ValidationError", schema: "event (OrderEvent)", issues } });
    }
    const now = Date.now();
    const created = record === null;
    const next = created
      ? { v: 1, job_type: request.job_type, job_name: request.job_name, id: request.id, created_at: now,
          event_ids: {}, alarm: null, state: null, event_count: 0, execute_count: 0 }
      : record;
    const before = next.alarm;
    if (event.kind === "placed") {
      next.state = { status: "awaiting_payment", amount_cents: event.amount_cents ?? 0 };
      next.alarm = now + ORDER_TIMEOUT_MS;
    } else if (event.kind === "paid" && next.state !== null) {
      next.state = { ...next.state, status: "paid" };
      next.alarm = null;
    }
    next.event_count++;
    await this.save(next, next.alarm !== before);
    return JSON.stringify({ ok: true, value: { created, instance_id: name, scheduled_at: next.alarm } });
  }

  async alarm() {
    this.ops.alarms++;
    const record = await this.load();
    if (record === null) return;
    record.alarm = null;
    record.execute_count++;
    if (record.state !== null && record.state.status === "awaiting_payment") {
      record.state = { ...record.state, status: "cancelled" };
    }
    await this.save(record, false);
  }

  async storage_ops() {
    return JSON.stringify(this.ops);
  }
}

function namespaceOf(env, target) {
  if (target === "py") return env.PY_JOBS;
  if (target === "js") return env.JS_JOBS;
  throw new Error(`unknown target ${target}`);
}

// `send` alternates "placed" (arms the alarm 15 minutes ahead) and "paid" (cancels it), so that every
// call writes the record and changes the alarm, whatever the clock says.
function requestFor(op, id, i) {
  const base = { job_type: "task", job_name: "order_processor", id };
  if (op === "status") return JSON.stringify({ ...base, op: "status" });
  const event = i % 2 === 0 ? { kind: "placed", amount_cents: 1200 } : { kind: "paid" };
  return JSON.stringify({ ...base, op: "send", payload: event });
}

export default class extends WorkerEntrypoint {
  // GET /loop?target=py|js&op=send|status|floor&id=..&n=..  -> n sequential RPC calls, timed here
  // GET /call?target=py|js&op=send|status&id=..&i=..          -> one RPC call (end-to-end HTTP timing)
  // GET /ops?target=py|js&id=..                       -> the object's storage_ops()
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/") return new Response("ok"); // the floor of an HTTP request to this Worker
    const target = url.searchParams.get("target");
    const op = url.searchParams.get("op") ?? "status";
    const id = url.searchParams.get("id") ?? "bench";
    const namespace = namespaceOf(this.env, target);
    const stub = namespace.get(namespace.idFromName(`task:order_processor:${id}`));
    if (url.pathname === "/ops") {
      return new Response(await stub.storage_ops(), { headers: { "content-type": "application/json" } });
    }
    if (url.pathname === "/call") {
      const i = Number(url.searchParams.get("i") ?? "0");
      return new Response(await stub.call(requestFor(op, id, i)), { headers: { "content-type": "application/json" } });
    }
    if (url.pathname === "/loop") {
      const n = Number(url.searchParams.get("n") ?? "100");
      const bodies = [requestFor(op, id, 0), requestFor(op, id, 1)];
      const started = Date.now();
      for (let i = 0; i < n; i++) {
        // op=floor: the trivial storage_ops() method, the cost of a call into the object by itself.
        const reply = JSON.parse(op === "floor" ? await stub.storage_ops() : await stub.call(bodies[i % 2]));
        if (op !== "floor" && reply.ok !== true) throw new Error(JSON.stringify(reply));
      }
      const elapsed = Date.now() - started;
      return Response.json({ target, op, n, elapsed_ms: elapsed, per_call_ms: elapsed / n });
    }
    return new Response("no such route", { status: 404 });
  }
}
