// The job's progress in words and a bar: queue position, stage (the engine's own loading message
// while a model loads), "Step n of m" as the engine reports them, and the time left estimated
// from the pace of the steps seen so far.

import { t } from "./i18n.js";

const STAGES = new Set(["queued", "loading_model", "preprocessing", "denoising", "postprocessing", "fetching_result"]);
const STATUS = new Set(["submitting", "queued", "processing", "done", "error", "cancelled"]);

export function formatDuration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return t("time.s", { s });
  const m = Math.floor(s / 60);
  if (m < 60) return t("time.ms", { m, s: String(s % 60).padStart(2, "0") });
  return t("time.hm", { h: Math.floor(m / 60), m: String(m % 60).padStart(2, "0") });
}

export class ProgressView {
  /** @param {{box: HTMLElement, status: HTMLElement, bar: HTMLProgressElement, steps: HTMLElement, eta: HTMLElement}} els */
  constructor(els) {
    this.els = els;
    this.reset();
  }

  reset() {
    this.samples = [];
    this.lastStep = null;
  }

  /** Nothing to show (a run that could not start). */
  hide() {
    this.els.box.hidden = true;
    this.els.box.dataset.status = "idle";
  }

  /** Start showing a new job. */
  begin() {
    this.reset();
    this.els.box.hidden = false;
    this.els.box.dataset.status = "submitting";
    this.render({ status: "submitting" });
    this.els.box.scrollIntoView({ block: "nearest" });
  }

  /** Estimated seconds left, from the job's own figure or the pace of its steps. */
  estimate(state) {
    const step = state.current_step;
    const total = state.total_steps;
    if (typeof step !== "number" || typeof total !== "number" || total <= 0) return null;
    if (step !== this.lastStep) {
      // A restarted count (a new stage with its own steps) starts a new pace.
      if (this.lastStep !== null && step < this.lastStep) this.samples = [];
      this.samples.push({ step, t: performance.now() });
      this.lastStep = step;
    }
    if (this.samples.length < 2) return null;
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    const perStep = (last.t - first.t) / 1000 / Math.max(1, last.step - first.step);
    return Math.max(0, (total - step) * perStep);
  }

  /** Write the last state again (after a language switch). */
  rerender() {
    if (this.lastState && !this.els.box.hidden) this.render(this.lastState);
  }

  render(state) {
    this.lastState = state;
    const { box, status, bar, steps, eta } = this.els;
    const s = state.status || "processing";
    box.dataset.status = s;
    let text = STATUS.has(s) ? t(`job.${s}`) : s;
    if (s === "queued") {
      const position = state.queue_position;
      // 1 is the next job to start on its backend.
      if (typeof position === "number") text = position <= 1 ? t("job.next") : t("job.position", { position });
    } else if (s === "processing" && state.stage === "loading_model" && state.loading_message) {
      // The service's own words: it knows whether there is a model to load at all.
      text = state.loading_message;
    } else if (s === "processing" && STAGES.has(state.stage)) {
      text = t(`stage.${state.stage}`);
    }
    if (state.reconnecting) text += t("job.reconnecting");
    status.textContent = text;

    let fraction = typeof state.progress === "number" ? state.progress : null;
    if (fraction === null && typeof state.current_step === "number" && state.total_steps) {
      fraction = state.current_step / state.total_steps;
    }
    if (s === "done") fraction = 1;
    if (fraction === null) {
      // Indeterminate while waiting; a job that ended without a figure shows where it stopped.
      if (s === "queued" || s === "submitting") bar.removeAttribute("value");
      else if (!bar.hasAttribute("value")) bar.value = 0;
    } else {
      bar.value = Math.min(1, Math.max(0, fraction));
    }
    bar.setAttribute("aria-valuetext", fraction === null ? text : `${Math.round(fraction * 100)} %`);

    if (typeof state.current_step === "number" && typeof state.total_steps === "number" && state.total_steps > 0) {
      steps.textContent = t("job.step", { step: state.current_step, total: state.total_steps });
    } else if (s !== "processing") {
      steps.textContent = "";
    }
    const left = s === "processing" ? this.estimate(state) : null;
    if (left !== null) eta.textContent = t("job.eta", { time: formatDuration(left) });
    else if (s !== "processing") eta.textContent = "";
  }
}
