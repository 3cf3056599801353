// One generation job from submit to its end: POST /api/generate/async (with an Idempotency-Key,
// so a retried submit cannot start it twice), then the SSE stream, resumed with Last-Event-ID
// when it drops and backed by GET /status, then the result. Progress goes to a callback.
import { t } from "./i18n.js";

import { ApiError } from "./api.js";
import { readEvents } from "./sse.js";

export const TERMINAL = new Set(["done", "error", "cancelled"]);
const STREAM_IDLE_MS = 45000;
const MAX_STREAM_RETRIES = 6;

const sleep = (ms, signal) =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
  });

function newKey() {
  return crypto.randomUUID ? crypto.randomUUID() : `job-${Date.now()}-${Math.random().toString(16).slice(2)}`;
}

/** The words of a job's error, whatever shape the service gave it. */
export function errorText(error) {
  if (!error) return "";
  if (typeof error === "string") return error;
  if (typeof error.detail === "string") return error.detail;
  if (typeof error.message === "string") return error.message;
  if (typeof error.title === "string") return error.title;
  return JSON.stringify(error);
}

/** The fields of a job's status the contract has (API.md); nothing else is read. */
const STATUS_FIELDS = ["status", "stage", "progress", "current_step", "total_steps", "queue_position", "error", "loading_message"];

/**
 * Fold one stream event into the job's state. Events carry the job's fields (status, stage,
 * progress, steps, queue position); terminal ones may be named by the event type only.
 */
export function foldEvent(state, event) {
  let data = {};
  try {
    data = event.data ? JSON.parse(event.data) : {};
  } catch {
    data = {};
  }
  if (data === null || typeof data !== "object") data = {};
  const name = event.event && event.event !== "message" ? event.event : data.type || data.event || "";
  const next = { ...state };
  for (const key of STATUS_FIELDS) {
    if (data[key] !== undefined) next[key] = data[key];
  }
  if (!data.status && TERMINAL.has(name)) next.status = name;
  if (!next.status && (name === "progress" || name === "stage")) next.status = "processing";
  return next;
}

/**
 * The id an event carries in its JSON. The stream sends each event's `id:` in a block of its own
 * AFTER the data (so blank-line-splitting clients read the JSON alone), so the SSE id in force
 * when the data arrives is the previous event's; resuming from the JSON's id repeats nothing.
 */
function ownId(event) {
  try {
    const id = JSON.parse(event.data).id;
    return typeof id === "string" && id ? id : null;
  } catch {
    return null;
  }
}

export class JobRunner {
  /** @param {import("./api.js").ApiClient} api */
  constructor(api) {
    this.api = api;
    this.taskId = null;
    this.controller = null;
    this.cancelRequested = false;
    /** Called with the job state on every change: {status, stage, progress, current_step, ...}. */
    this.onUpdate = null;
    /** Called when a cancel asked for before the job had an id could not be sent. */
    this.onCancelError = null;
  }

  get running() {
    return Boolean(this.controller);
  }

  /**
   * Submit and follow a job to its end.
   * @returns {Promise<{state: object, result: object | null}>} result of /result when it is done
   */
  async run(body) {
    if (this.controller) throw new Error("A job is already running.");
    this.controller = new AbortController();
    this.cancelRequested = false;
    this.taskId = null;
    const signal = this.controller.signal;
    try {
      this.emit({ status: "submitting" });
      const key = newKey();
      let submitted;
      try {
        submitted = await this.api.post("/api/generate/async", body, { headers: { "Idempotency-Key": key }, timeout: 120000 });
      } catch (err) {
        // A dropped connection may have lost the answer, not the job: the same key is safe to resend.
        if (!(err instanceof ApiError) || err.kind !== "network") throw err;
        await sleep(1000, signal);
        submitted = await this.api.post("/api/generate/async", body, { headers: { "Idempotency-Key": key }, timeout: 120000 });
      }
      this.taskId = submitted.task_id;
      if (!this.taskId) throw new Error(t("error.noTaskId"));
      let state = { task_id: this.taskId, status: submitted.status || "queued", queue_position: submitted.queue_position };
      this.emit(state);
      if (this.cancelRequested) this.sendCancel().catch((err) => this.onCancelError?.(err));
      state = await this.follow(state, signal);
      let result = null;
      if (state.status === "done") {
        // "Done" is shown by the caller once the picture is on screen, not when the event came.
        this.emit({ ...state, status: "processing", stage: "fetching_result" });
        // Without the base64: the picture is fetched full size as its asset (image_asset).
        result = await this.api.json(`/api/generate/result/${encodeURIComponent(this.taskId)}?include_image=false`, { timeout: 120000 });
      } else {
        this.emit(state);
      }
      return { state, result };
    } finally {
      this.controller = null;
    }
  }

  emit(state) {
    if (this.onUpdate) this.onUpdate(state);
  }

  async follow(initial, signal) {
    const id = encodeURIComponent(this.taskId);
    let state = initial;
    let lastEventId = null;
    let failures = 0;
    while (!signal.aborted) {
      const attempt = new AbortController();
      const abort = () => attempt.abort();
      signal.addEventListener("abort", abort, { once: true });
      let idle = setTimeout(abort, STREAM_IDLE_MS);
      const activity = () => {
        clearTimeout(idle);
        idle = setTimeout(abort, STREAM_IDLE_MS);
      };
      try {
        const headers = { Accept: "text/event-stream" };
        if (lastEventId !== null) headers["Last-Event-ID"] = lastEventId;
        const response = await this.api.fetch(`/api/generate/stream/${id}`, { headers, signal: attempt.signal, timeout: 0 });
        for await (const event of readEvents(response.body, activity)) {
          failures = 0;
          lastEventId = ownId(event) ?? event.id ?? lastEventId;
          state = foldEvent(state, event);
          if (TERMINAL.has(state.status)) return state;
          this.emit(state);
        }
      } catch (err) {
        if (signal.aborted) break;
        // The stream itself refused (unknown job, bad key): reconnecting will not help.
        if (err instanceof ApiError && err.status && ![502, 503, 504].includes(err.status)) throw err;
      } finally {
        clearTimeout(idle);
        signal.removeEventListener("abort", abort);
      }
      if (signal.aborted) break;
      // The stream ended before the job did: resume it from the last event seen. When that
      // keeps failing, the status route says whether the job ended meanwhile.
      failures += 1;
      this.emit({ ...state, reconnecting: true });
      if (failures > 1) {
        try {
          const status = await this.api.json(`/api/generate/status/${id}`, { timeout: 10000, signal });
          state = { ...state, reconnecting: false };
          for (const key of STATUS_FIELDS) if (status[key] !== undefined) state[key] = status[key];
          if (TERMINAL.has(state.status)) return state;
          this.emit(state);
        } catch (err) {
          if (err instanceof ApiError && err.status === 404) throw err;
        }
      }
      await sleep(Math.min(8000, 250 * 2 ** Math.min(failures, MAX_STREAM_RETRIES)), signal);
    }
    throw new ApiError(t("error.stopped"), { kind: "aborted" });
  }

  /** Ask the server to cancel; the stream then ends with the "cancelled" event. */
  async cancel() {
    if (!this.controller) return;
    this.cancelRequested = true;
    if (this.taskId) await this.sendCancel();
  }

  async sendCancel() {
    try {
      await this.api.fetch(`/api/generate/async/cancel/${encodeURIComponent(this.taskId)}`, { method: "POST", timeout: 15000 });
    } catch (err) {
      // 409: it finished first; its own terminal event follows on the stream.
      if (!(err instanceof ApiError && err.status === 409)) throw err;
    }
  }

  /** Stop listening (the page is leaving or a new image replaced everything); the job runs on. */
  detach() {
    if (this.controller) this.controller.abort();
  }
}
