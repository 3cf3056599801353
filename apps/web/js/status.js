// The server status indicator: GET /api/system/health every few seconds (5 s timeout), shown as
// online, degraded (naming the services in trouble), offline, or "API key needed". A
// scale-to-zero service that sleeps ("idle") is normal, and is shown as sleeping.

import { ApiError } from "./api.js";
import { t } from "./i18n.js";

const NAMES = new Set(["generation", "segmentation", "image_utils", "job_manager"]);

export function serviceName(key) {
  return NAMES.has(key) ? t(`service.${key}`) : key.replace(/_/g, " ");
}

const WORDS = new Set(["idle", "healthy", "unhealthy", "loading", "degraded"]);

function serviceWord(status) {
  return WORDS.has(status) ? t(`word.${status}`) : status || t("word.unknown");
}

export class StatusIndicator {
  /**
   * @param {import("./api.js").ApiClient} api
   * @param {{button: HTMLElement, text: HTMLElement, list: HTMLElement}} els
   */
  constructor(api, { button, text, list }, intervalMs = 5000) {
    this.api = api;
    this.button = button;
    this.text = text;
    this.list = list;
    this.intervalMs = intervalMs;
    this.timer = 0;
    this.state = "checking";
    this.onChange = null;
    /** Called with every health answer (the engines it lists are the ones to offer). */
    this.onHealth = null;
    /** Called when the server refused the key (401). */
    this.onRefused = null;
    this.last = null;
  }

  /** Show the last answer again (after a language switch). */
  rerender() {
    if (this.last) this.last();
  }

  start() {
    this.check();
  }

  /** Check now (after a key change) and keep checking every interval. */
  async check() {
    clearTimeout(this.timer);
    // A check started meanwhile (a new key) supersedes this one: one answer shown, one timer.
    const seq = (this.seq = (this.seq || 0) + 1);
    let show;
    try {
      const health = await this.api.json("/api/system/health", { timeout: 5000 });
      show = () => this.render(health);
      if (seq === this.seq && this.onHealth) this.onHealth(health);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        const refused = Boolean(this.api.apiKey);
        show = () => this.show("auth", t(refused ? "status.refused" : "status.auth"), t(refused ? "status.refusedDetail" : "status.authDetail"), []);
        if (seq === this.seq && this.onRefused) this.onRefused();
      } else {
        show = () => this.show("offline", t("status.offline"), err instanceof Error ? err.message : t("status.unreachable"), []);
      }
    }
    if (seq !== this.seq) return;
    this.last = show;
    show();
    this.timer = setTimeout(() => this.check(), this.intervalMs);
  }

  render(health) {
    const services = Object.entries(health.services || {});
    const troubled = services.filter(([, s]) => s && s.status !== "healthy" && s.status !== "idle");
    const sleeping = services.filter(([, s]) => s && s.status === "idle");
    let state = "online";
    let label = t("status.online");
    if (health.status === "unhealthy" || health.status === "degraded" || troubled.length) {
      state = "degraded";
      const names = troubled.map(([key, s]) => `${serviceName(key)} ${serviceWord(s.status)}`);
      label = names.length ? t("status.degradedNames", { names: names.join(", ") }) : t("status.degraded");
    } else if (sleeping.length) {
      label = t("status.sleeping", { names: sleeping.map(([key]) => serviceName(key)).join(", ") });
    }
    const rows = services.map(([key, s]) => {
      const parts = [serviceWord(s.status)];
      if (s.engine) parts.push(s.engine);
      if (typeof s.latency_ms === "number" && s.status !== "idle") parts.push(`${Math.round(s.latency_ms)} ms`);
      if (s.version) parts.push(`v${s.version}`);
      return { key, name: serviceName(key), status: s.status, text: parts.join(" · "), error: s.error };
    });
    this.show(state, label, "", rows);
  }

  show(state, label, detail, rows) {
    const changed = state !== this.state || this.text.textContent !== label;
    this.state = state;
    this.button.dataset.state = state;
    this.text.textContent = label;
    this.button.title = detail || label;
    this.list.replaceChildren();
    if (detail) {
      const item = document.createElement("li");
      item.textContent = detail;
      this.list.append(item);
    }
    for (const row of rows) {
      const item = document.createElement("li");
      item.dataset.service = row.key;
      item.dataset.status = row.status;
      const dot = document.createElement("span");
      dot.className = "dot";
      dot.setAttribute("aria-hidden", "true");
      const name = document.createElement("strong");
      name.textContent = row.name;
      const text = document.createElement("span");
      text.textContent = ` ${row.text}`;
      item.append(dot, name, text);
      if (row.error) {
        const error = document.createElement("div");
        error.className = "service-error";
        error.textContent = row.error;
        item.append(error);
      }
      this.list.append(item);
    }
    if (changed && this.onChange) this.onChange(state, label);
  }
}
