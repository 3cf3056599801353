// The gateway client: every request of the editor goes through here, so the API key, timeouts
// and the translation of problem documents into sentences a person can read live in one place.

import { t } from "./i18n.js";

const KEY_STORAGE = "retouch.apiKey";
const BASE_STORAGE = "retouch.apiBase";

/** An answer >= 400 or a failed request, with a message fit to show. */
export class ApiError extends Error {
  /**
   * @param {string} message readable sentence
   * @param {{status?: number, problem?: any, kind?: "http"|"network"|"timeout"|"aborted"}} info
   */
  constructor(message, { status = 0, problem = null, kind = "http" } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.problem = problem;
    this.kind = kind;
  }
}

function readStorage(key) {
  try {
    return window.localStorage.getItem(key) || "";
  } catch {
    return "";
  }
}

function writeStorage(key, value) {
  try {
    if (value) window.localStorage.setItem(key, value);
    else window.localStorage.removeItem(key);
  } catch {
    // Private mode or disabled storage: the key still works for this page's lifetime.
  }
}

const STATUS_HINTS = new Set([400, 401, 403, 404, 409, 413, 415, 422, 429, 500, 502, 503, 504]);

/** Turn a problem document (or any error body) into one readable sentence. */
export function describeProblem(status, problem) {
  let text = "";
  if (problem && typeof problem === "object") {
    if (typeof problem.detail === "string" && problem.detail) text = problem.detail;
    else if (typeof problem.title === "string") text = problem.title;
    if (Array.isArray(problem.errors) && problem.errors.length) {
      const fields = problem.errors
        .filter((e) => e && e.message && !text.includes(e.message))
        .map((e) => (e.field ? `${e.field}: ${e.message}` : e.message));
      if (fields.length) text = text ? `${text} (${fields.join("; ")})` : fields.join("; ");
    }
  } else if (typeof problem === "string" && problem.trim() && !problem.trim().startsWith("<")) {
    text = problem.trim().slice(0, 300);
  }
  const hint = STATUS_HINTS.has(status) ? t(`http.${status}`) : t("http.other", { status });
  if (!text) return `${hint}.`;
  const sentence = text.charAt(0).toUpperCase() + text.slice(1);
  return `${hint}: ${sentence}${/[.!?]$/.test(sentence) ? "" : "."}`;
}

async function problemFrom(response) {
  const type = response.headers.get("content-type") || "";
  try {
    if (type.includes("json")) return await response.json();
    return await response.text();
  } catch {
    return null;
  }
}

export class ApiClient {
  constructor() {
    this.base = (readStorage(BASE_STORAGE) || "").replace(/\/$/, "");
    this.apiKey = readStorage(KEY_STORAGE);
    /** Called with the ApiError when any request answers 401. */
    this.onUnauthorized = null;
  }

  setApiKey(key) {
    this.apiKey = (key || "").trim();
    writeStorage(KEY_STORAGE, this.apiKey);
  }

  url(path) {
    return `${this.base}${path}`;
  }

  headers(extra = {}) {
    const headers = { Accept: "application/json", ...extra };
    if (this.apiKey) headers.Authorization = `Bearer ${this.apiKey}`;
    return headers;
  }

  /**
   * fetch with the key, a timeout and readable errors; resolves to the Response (status < 400).
   * @param {string} path
   * @param {{method?: string, json?: any, headers?: object, signal?: AbortSignal, timeout?: number}} opts
   */
  async fetch(path, { method = "GET", json, headers = {}, signal, timeout = 60000 } = {}) {
    const controller = new AbortController();
    let timedOut = false;
    const timer = timeout > 0 ? setTimeout(() => { timedOut = true; controller.abort(); }, timeout) : null;
    const onAbort = () => controller.abort();
    if (signal) {
      if (signal.aborted) controller.abort();
      else signal.addEventListener("abort", onAbort, { once: true });
    }
    const init = { method, headers: this.headers(headers), signal: controller.signal };
    if (json !== undefined) {
      init.body = JSON.stringify(json);
      init.headers["Content-Type"] = "application/json";
    }
    let response;
    try {
      response = await fetch(this.url(path), init);
    } catch (err) {
      if (timedOut) throw new ApiError(t("error.timeout"), { kind: "timeout" });
      if (signal && signal.aborted) throw new ApiError(t("error.stopped"), { kind: "aborted" });
      throw new ApiError(t("error.network"), { kind: "network" });
    } finally {
      if (timer) clearTimeout(timer);
      if (signal) signal.removeEventListener("abort", onAbort);
    }
    if (response.status >= 400) {
      const problem = await problemFrom(response);
      const error = new ApiError(describeProblem(response.status, problem), { status: response.status, problem });
      if (response.status === 401 && this.onUnauthorized) this.onUnauthorized(error);
      throw error;
    }
    return response;
  }

  /** JSON answer of a request (see fetch for options). */
  async json(path, opts = {}) {
    const response = await this.fetch(path, opts);
    try {
      return await response.json();
    } catch {
      throw new ApiError(t("error.badJson"), { status: response.status });
    }
  }

  post(path, body, opts = {}) {
    return this.json(path, { ...opts, method: "POST", json: body });
  }
}
