// The gateway client: every request of the editor goes through here, so the API key, timeouts
// and the translation of problem documents into sentences a person can read live in one place.

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

const STATUS_HINTS = {
  400: "The request was not understood",
  401: "The server needs a valid API key",
  403: "This API key may not do that",
  404: "Not found",
  409: "That is not possible in the current state",
  413: "The image or request is too large",
  422: "Some input was not accepted",
  429: "Too many requests; wait a moment and try again",
  500: "The server failed",
  502: "A backend service did not answer properly",
  503: "A backend service is unavailable",
  504: "A backend service took too long to answer",
};

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
  const hint = STATUS_HINTS[status] || `The server answered ${status}`;
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
      if (timedOut) throw new ApiError("The server did not answer in time.", { kind: "timeout" });
      if (signal && signal.aborted) throw new ApiError("Stopped.", { kind: "aborted" });
      throw new ApiError("Could not reach the server. Check that it is running and try again.", { kind: "network" });
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
      throw new ApiError("The server sent an answer that is not valid JSON.", { status: response.status });
    }
  }

  post(path, body, opts = {}) {
    return this.json(path, { ...opts, method: "POST", json: body });
  }
}
