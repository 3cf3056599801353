// The Run button's whole story: check and build the request from the editor, the task form and
// the reference panel, run it as a job with its progress shown, Cancel, and hand the result to
// the history. Every failure ends as a sentence in the error banner.

import { canvasFromBase64, cloneCanvas } from "./imageio.js";
import { JobRunner, errorText } from "./jobs.js";
import { ProgressView } from "./progress.js";
import { FieldProblem } from "./tasks.js";

export class RunPanel {
  /**
   * @param {object} deps
   * @param {import("./api.js").ApiClient} deps.api
   * @param {import("./editor.js").Editor} deps.editor
   * @param {import("./tasks.js").TaskForm} deps.tasks
   * @param {import("./reference.js").ReferencePanel} deps.reference
   * @param {import("./results.js").Results} deps.results
   * @param {{error: (e: unknown, context?: string) => void, clearError: () => void, announce: (text: string) => void}} deps.ui
   * @param {Record<string, HTMLElement>} deps.els form, run, cancel, advanced, and the progress elements
   */
  constructor({ api, editor, tasks, reference, results, ui, els }) {
    Object.assign(this, { editor, tasks, reference, results, ui, els });
    this.runner = new JobRunner(api);
    this.progress = new ProgressView({ box: els.box, status: els.status, bar: els.bar, steps: els.steps, eta: els.eta });
    this.runner.onUpdate = (state) => this.progress.render(state);
    this.runner.onCancelError = (err) => ui.error(err, "Could not cancel");
    this.starting = false;
    this.cancelBeforeStart = false;
    els.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.run();
    });
    els.cancel.addEventListener("click", () => this.cancel());
  }

  async buildRequest() {
    const { editor, tasks } = this;
    if (!editor.hasImage) throw new Error("Open a picture first.");
    const body = tasks.fields();
    if (tasks.spec.needsMask) {
      if (editor.maskIsEmpty()) {
        throw new Error(`${tasks.spec.label} needs a mask: paint over the area or click it with the Smart tool.`);
      }
      body.mask = await editor.maskBase64();
      body.mask_tool_type = editor.maskToolType();
    }
    if (tasks.task === "insertion") Object.assign(body, await this.reference.fields());
    body.input_image = await editor.image.base64();
    return body;
  }

  showRunning(running) {
    this.els.run.disabled = running;
    this.els.cancel.hidden = !running;
    this.els.cancel.disabled = false;
  }

  async run() {
    if (this.runner.running || this.starting) return;
    this.starting = true;
    this.cancelBeforeStart = false;
    // Synchronously, so the page never shows the previous job's end while this one starts.
    this.ui.clearError();
    this.progress.begin();
    this.showRunning(true);
    try {
      await this.runJob();
    } finally {
      this.starting = false;
      this.showRunning(false);
    }
  }

  async runJob() {
    const { ui, progress, runner } = this;
    let body;
    try {
      body = await this.buildRequest();
    } catch (err) {
      progress.hide();
      ui.error(err, "Cannot run yet");
      if (err instanceof FieldProblem) {
        const advanced = this.els.advanced;
        advanced.open = advanced.open || advanced.contains(err.field);
        err.field.focus();
      }
      return;
    }
    if (this.cancelBeforeStart) {
      progress.render({ status: "cancelled" });
      return;
    }
    const task = this.tasks.task;
    const before = cloneCanvas(this.editor.imageCanvas);
    try {
      const { state, result } = await runner.run(body);
      if (state.status === "done" && result) {
        const after = await canvasFromBase64(result.image);
        this.results.add({ taskId: runner.taskId, task, before, after, seed: result.seed ?? null });
        progress.render(state);
        ui.announce("Done: compare the result with the slider.");
      } else if (state.status === "cancelled") {
        ui.announce("The job was cancelled.");
      } else if (state.status === "error") {
        const reason = errorText(state.error) || "the service gave no reason";
        ui.error(new Error(reason.charAt(0).toUpperCase() + reason.slice(1)), "The edit failed");
      }
    } catch (err) {
      progress.render({ status: "error" });
      ui.error(err, runner.taskId ? "The job stopped" : "Could not start the job");
    }
  }

  async cancel() {
    this.els.cancel.disabled = true;
    this.progress.els.status.textContent = "Cancelling…";
    if (!this.runner.running) {
      // Still preparing the request: it will not be sent.
      this.cancelBeforeStart = true;
      return;
    }
    try {
      await this.runner.cancel();
    } catch (err) {
      this.els.cancel.disabled = false;
      this.ui.error(err, "Could not cancel");
    }
  }
}
