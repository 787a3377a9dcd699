/**
 * The HTTP face's API (mounted at `/api`): each route translates a signed
 * JSON request into its operation (lib/ops/operations.ts) and the outcome
 * into a JSON reply. Job payloads are the stored superjson text spliced into
 * the reply unchanged.
 */
import { Hono } from "hono";
import { ErrorCode, LimitError, TaskwireError } from "../protocol/errors.ts";
import { ask, type Done } from "../ops/operations.ts";
import { checkPutCount } from "../queue/arguments.ts";
import type { Caller } from "../ops/caller.ts";
import type { Delivery, Job } from "../queue/types.ts";
import type { InFlightJob } from "../queue/backend.ts";
import type { CallResult, ScheduleInfo } from "../protocol/replies.ts";
import { parseJson } from "./auth.ts";
import { type Call, endpoint, type HttpEnv, signed, type SignedCall, viewer } from "./endpoint.ts";
import { HttpError, json, JSON_HEADERS, malformed, shuttingDown } from "./errors.ts";
import { inFlightMeta, jobMeta } from "../ops/job_meta.ts";
import type { Face } from "./face.ts";
import { SIGNATURE_SCHEME } from "./sign.ts";
import { addressKey, hostOf } from "../server/admission.ts";

/** Longest long-poll one request may ask for. */
export const MAX_POLL_MS = 120_000;

/** The HTTP protocol's name and version, told at hello (the signature scheme's). */
export const HTTP_PROTOCOL = SIGNATURE_SCHEME;

/**
 * A job as a JSON object, its stored payload spliced in unchanged. A payload
 * that is not JSON text (only a raw TCP put can store one) goes as the string
 * `payloadText` instead, for the client to dead-letter as undecodable.
 */
function jobJson(job: Job, tag?: number, inFlight?: InFlightJob): string {
  const meta = inFlight === undefined ? jobMeta(job, tag) : inFlightMeta(inFlight);
  // The progress is a superjson text: spliced in like the payload, not quoted.
  let progress = "";
  if (meta.progress !== undefined) {
    progress = `,${spliced("progress", meta.progress as string)}`;
    delete meta.progress;
  }
  const head = JSON.stringify(meta).slice(0, -1);
  return `${head}${progress},${spliced("payload", job.payload)}}`;
}

/**
 * A stored superjson text as the JSON field `name`, spliced in unchanged; a
 * text that is not JSON (only a raw TCP put can store one) goes as the
 * string `<name>Text` instead, for the client to refuse as undecodable.
 */
function spliced(name: string, text: string): string {
  return isJson(text) ? `"${name}":${text}` : `"${name}Text":${JSON.stringify(text)}`;
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** The answer to a called task as JSON, its result spliced in like a job's payload. */
function answerJson(answer: CallResult): string {
  if (answer.progress !== undefined) {
    const head = JSON.stringify({ id: answer.id, queue: answer.queue }).slice(0, -1);
    return `${head},${spliced("progress", answer.progress)}}`;
  }
  const head = JSON.stringify(
    answer.error === undefined
      ? { id: answer.id, queue: answer.queue, fallback: answer.fallback }
      : { id: answer.id, queue: answer.queue, error: answer.error },
  ).slice(0, -1);
  if (answer.payload === undefined) return `${head}}`;
  return `${head},${spliced("result", answer.payload)}}`;
}

function jobsResponse(jobs: string[]): Response {
  return new Response(`{"jobs":[${jobs.join(",")}]}`, { headers: JSON_HEADERS });
}

/** A query parameter as an integer (the operation checks its range); undefined when absent. */
function intParam(value: string | undefined, what: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,9}$/.test(value)) {
    throw new HttpError(
      400,
      ErrorCode.BadArgument,
      `Invalid ${what}: ${JSON.stringify(value.slice(0, 40))} (expected a whole number)`,
    );
  }
  return Number(value);
}

/** A lease tag from the path. */
function tagParam(value: string): number {
  const n = /^\d{1,15}$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new HttpError(400, ErrorCode.BadArgument, `Invalid lease tag: ${JSON.stringify(value)}`);
  }
  return n;
}

/**
 * Runs an operation that waits (a get or a put) for a request: resolves to
 * its outcome, or to "aborted" when the request goes away or the face closes
 * first (the operation then hands back what it took).
 */
function waitFor<T>(
  request: Request,
  closing: AbortSignal,
  run: (done: Done<T>, signal: AbortSignal) => void,
): Promise<T | "aborted"> {
  const signal = AbortSignal.any([request.signal, closing]);
  return new Promise<T | "aborted">((resolve, reject) => {
    if (signal.aborted) return resolve("aborted");
    const onAbort = () => resolve("aborted");
    signal.addEventListener("abort", onAbort, { once: true });
    run((outcome) => {
      signal.removeEventListener("abort", onAbort);
      if (outcome instanceof TaskwireError) reject(outcome);
      else resolve(outcome as T);
    }, signal);
  });
}

/** The API as a Hono app. */
export function apiApp(face: Face): Hono<HttpEnv> {
  const { ops } = face;
  const api = new Hono<HttpEnv>();
  const on = (path: string, methods: Parameters<typeof endpoint>[3]) =>
    endpoint(api, face, path, methods);
  const callerOf = (call: Call): Caller =>
    call.visitor.kind === "client" ? call.visitor.peer.caller : face.viewer;
  const queue = (call: SignedCall) => call.c.req.param("queue") ?? "";
  /** Runs a check made here rather than by an operation; a limit it hits is counted all the same. */
  const countedLimit = (check: () => void) => {
    try {
      check();
    } catch (error) {
      if (error instanceof LimitError) ops.countLimit(error.limit);
      throw error;
    }
  };

  on("/hello", {
    GET: signed("say hello", () => {
      const { server } = ops.snapshot();
      return json({
        name: server.name,
        runtime: server.runtime,
        protocol: HTTP_PROTOCOL,
        god: face.godId,
        idleMs: face.idleMs,
        maxBodyBytes: face.maxBodyBytes,
      });
    }, { anyGod: true }),
  });
  on("/ping", { POST: signed("ping", () => json({})) });
  on("/bye", {
    POST: signed("say goodbye", ({ peer }) => {
      face.peers.forget(peer, "said goodbye");
      return json({});
    }),
  });
  on("/stats", {
    GET: viewer("read stats", async (call) => {
      const stats = await ask((done) =>
        ops.stats(callerOf(call), { queue: call.c.req.query("queue") }, done)
      );
      return json(stats);
    }),
  });
  on("/events", {
    GET: viewer(
      "watch stats",
      ({ request, c }) =>
        face.streams.open(request, face.closing, addressKey(hostOf(c.env?.remote ?? "http"))),
    ),
  });
  on("/queues/:queue", {
    PUT: signed("declare a queue", async (call) => {
      const body = parseJson(call.body);
      const options = await ask((done) =>
        ops.declare(call.peer.caller, { queue: queue(call), options: body.options }, done)
      );
      return json({ options });
    }),
  });
  on("/queues/:queue/put", {
    POST: signed("put jobs", async (call) => {
      const body = parseJson(call.body);
      if (!Array.isArray(body.items)) throw malformed('Malformed put: "items" must be an array');
      // Refused before each payload is written out again.
      const count = body.items.length;
      countedLimit(() => checkPutCount(count, ops.limits.maxPutItems, "put"));
      // A put without ids gets ids made from its signature, so a replay still dedupes.
      const makeId = (i: number) => `http-${call.signature.slice(0, 22)}-${i}`;
      const items: unknown[] = body.items;
      const payloads = items.map((item, i) => {
        if (typeof item !== "object" || item === null || !("payload" in item)) {
          throw malformed(`Malformed put: item ${i} is not an object with a "payload"`);
        }
        return JSON.stringify(item.payload);
      });
      const result = await waitFor<{ accepted: number; duplicates: number }>(
        call.request,
        face.closing,
        (done, signal) =>
          ops.put(
            call.peer.caller,
            { queue: queue(call), items, payloads, timeout: body.timeout },
            makeId,
            done,
            signal,
          ),
      );
      if (face.closing.aborted) throw shuttingDown();
      if (result === "aborted") return new Response(null, { status: 499 });
      const ids = items.map((item, i) => {
        const id = (item as { id?: unknown }).id;
        return typeof id === "string" ? id : makeId(i);
      });
      return json({ ...result, ids });
    }),
  });
  on("/queues/:queue/get", {
    POST: signed("take jobs", async (call) => {
      const timeout = intParam(call.c.req.query("timeout"), "timeout");
      if (timeout !== undefined && timeout > MAX_POLL_MS) {
        throw new HttpError(
          400,
          ErrorCode.BadArgument,
          `Invalid timeout: ${timeout} (a long-poll lasts at most ${MAX_POLL_MS} ms; poll again)`,
        );
      }
      const max = intParam(call.c.req.query("max"), "max");
      const deliveries = await waitFor<Delivery[]>(
        call.request,
        face.closing,
        (done, signal) =>
          ops.get(call.peer.caller, { queue: queue(call), timeout, max }, done, signal),
      );
      if (face.closing.aborted) throw shuttingDown();
      if (deliveries === "aborted") return new Response(null, { status: 499 });
      return jobsResponse(deliveries.map((d) => jobJson(d.job, d.tag)));
    }),
  });
  on("/queues/:queue/peek", {
    GET: signed("peek at jobs", async (call) => {
      const limit = intParam(call.c.req.query("limit"), "limit");
      const jobs = await ask<Job[]>((done) =>
        ops.peek(call.peer.caller, { queue: queue(call), limit }, done)
      );
      return jobsResponse(jobs.map((job) => jobJson(job)));
    }),
  });
  on("/queues/:queue/dead", {
    GET: signed("list dead letters", async (call) => {
      const limit = intParam(call.c.req.query("limit"), "limit");
      const jobs = await ask<Job[]>((done) =>
        ops.deadList(call.peer.caller, { queue: queue(call), limit }, done)
      );
      return jobsResponse(jobs.map((job) => jobJson(job)));
    }),
  });
  on("/queues/:queue/dead/requeue", {
    POST: signed("requeue dead letters", async (call) => {
      const body = parseJson(call.body);
      const requeued = await ask<number>((done) =>
        ops.deadRequeue(call.peer.caller, { queue: queue(call), ids: body.ids }, done)
      );
      return json({ requeued });
    }),
  });
  on("/queues/:queue/in-flight", {
    GET: signed("list jobs in flight", async (call) => {
      const limit = intParam(call.c.req.query("limit"), "limit");
      const jobs = await ask<InFlightJob[]>((done) =>
        ops.inFlight(call.peer.caller, { queue: queue(call), limit }, done)
      );
      return jobsResponse(jobs.map((listed) => jobJson(listed.job, listed.tag, listed)));
    }),
  });
  on("/queues/:queue/dead/delete", {
    POST: signed("delete dead letters", async (call) => {
      const body = parseJson(call.body);
      const deleted = await ask<number>((done) =>
        ops.deadDelete(call.peer.caller, { queue: queue(call), ids: body.ids }, done)
      );
      return json({ deleted });
    }),
  });
  for (const [path, paused] of [["pause", true], ["resume", false]] as const) {
    on(`/queues/:queue/${path}`, {
      POST: signed(`${path} a queue`, async (call) => {
        const options = await ask((done) =>
          ops.pause(call.peer.caller, { queue: queue(call) }, paused, done)
        );
        return json({ options });
      }),
    });
  }
  on("/schedules", {
    GET: signed("list schedules", async (call) => {
      const all = await ask<{ info: ScheduleInfo; payload: string }[]>((done) =>
        ops.schedules(call.peer.caller, done)
      );
      const items = all.map(({ info, payload }) =>
        `${JSON.stringify(info).slice(0, -1)},${spliced("value", payload)}}`
      );
      return new Response(`{"schedules":[${items.join(",")}]}`, { headers: JSON_HEADERS });
    }),
  });
  on("/schedules/:name", {
    PUT: signed("add a schedule", async (call) => {
      const body = parseJson(call.body);
      const fields = { ...body, name: call.c.req.param("name") };
      const payload = "value" in body ? JSON.stringify(body.value) : "";
      const schedule = await ask((done) =>
        ops.schedule(call.peer.caller, { fields, payload }, done)
      );
      return json({ schedule });
    }),
    DELETE: signed("remove a schedule", async (call) => {
      const removed = await ask<boolean>((done) =>
        ops.unschedule(call.peer.caller, { name: call.c.req.param("name") }, done)
      );
      return json({ removed });
    }),
  });
  on("/queues/:queue/purge", {
    POST: signed("purge a queue", async (call) => {
      const purged = await ask<number>((done) =>
        ops.purge(call.peer.caller, { queue: queue(call) }, done)
      );
      return json({ purged });
    }),
  });
  on("/ack", {
    POST: signed("ack jobs", async (call) => {
      const body = parseJson(call.body);
      return json(await ask((done) => ops.ack(call.peer.caller, { tags: body.tags }, done)));
    }),
  });
  on("/complete", {
    POST: signed("complete jobs", async (call) => {
      const body = parseJson(call.body);
      if (!Array.isArray(body.items)) {
        throw malformed('Malformed complete: "items" must be an array');
      }
      const items: unknown[] = body.items;
      countedLimit(() => checkPutCount(items.length, ops.limits.maxPutItems, "complete"));
      // A result is the superjson object the worker sent; "" stands for none.
      const results = items.map((item) =>
        typeof item === "object" && item !== null && "result" in item
          ? JSON.stringify(item.result)
          : ""
      );
      return json(await ask((done) => ops.complete(call.peer.caller, { items, results }, done)));
    }),
  });
  on("/results", {
    POST: signed("wait for the answers to called tasks", async (call) => {
      const timeout = intParam(call.c.req.query("timeout"), "timeout") ?? 0;
      if (timeout > MAX_POLL_MS) {
        throw new HttpError(
          400,
          ErrorCode.BadArgument,
          `Invalid timeout: ${timeout} (a long-poll lasts at most ${MAX_POLL_MS} ms; poll again)`,
        );
      }
      const { peer } = call;
      if (peer.answers.length === 0 && timeout > 0) {
        await new Promise<void>((resolve) => {
          const signal = AbortSignal.any([call.request.signal, face.closing]);
          const timer = setTimeout(done, timeout);
          signal.addEventListener("abort", done, { once: true });
          peer.wake = done;
          function done() {
            clearTimeout(timer);
            signal.removeEventListener("abort", done);
            if (peer.wake === done) peer.wake = null;
            resolve();
          }
        });
      }
      if (face.closing.aborted) throw shuttingDown();
      const answers = peer.answers.splice(0);
      return new Response(`{"results":[${answers.map(answerJson).join(",")}]}`, {
        headers: JSON_HEADERS,
      });
    }),
  });
  on("/forget", {
    POST: signed("stop waiting for called tasks", async (call) => {
      const body = parseJson(call.body);
      await ask<void>((done) => ops.forget(call.peer.caller, { ids: body.ids }, done));
      return json({});
    }),
  });
  on("/leases/:tag/nack", {
    POST: signed("nack a job", async (call) => {
      const tag = tagParam(call.c.req.param("tag") ?? "");
      const body = parseJson(call.body);
      await ask<void>((done) =>
        body.dead !== undefined
          ? ops.fail(call.peer.caller, { tag, reason: body.dead }, done)
          : ops.nack(call.peer.caller, { tag, delay: body.delay }, done)
      );
      return json({});
    }),
  });
  on("/leases/:tag/progress", {
    POST: signed("report progress", async (call) => {
      const tag = tagParam(call.c.req.param("tag") ?? "");
      const body = parseJson(call.body);
      if (!("value" in body)) throw malformed('Malformed progress: "value" is missing');
      const value = JSON.stringify(body.value);
      await ask<void>((done) => ops.progress(call.peer.caller, { tag, value }, done));
      return json({});
    }),
  });
  on("/leases/:tag/touch", {
    POST: signed("touch a job", async (call) => {
      const tag = tagParam(call.c.req.param("tag") ?? "");
      const deadline = await ask<number>((done) => ops.touch(call.peer.caller, { tag }, done));
      return json({ deadline });
    }),
  });
  return api;
}
