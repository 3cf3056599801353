// The Run button's whole story: check and build the request from the editor, the task form and
// the reference panel (the picture as its asset, the mask at the original's size), run it as a
// job with its progress shown, Cancel, and hand the result to the session, whose current picture
// it becomes. Every failure ends as a sentence in the error banner.

import { t } from "./i18n.js";
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
   * @param {object} deps.pictures the session's pictures: input() -> "asset:<id>" of the current
   *   picture (uploaded if needed), renewInput() uploads it again, accept(result, info) makes a
   *   finished job's result the current picture, confirmRun() asks before a Run drops undone edits
   */
  constructor({ api, editor, tasks, reference, results, ui, els, pictures }) {
    Object.assign(this, { editor, tasks, reference, results, ui, els, pictures });
    this.runner = new JobRunner(api);
    this.progress = new ProgressView({ box: els.box, status: els.status, bar: els.bar, steps: els.steps, eta: els.eta });
    this.runner.onUpdate = (state) => this.progress.render(state);
    this.runner.onCancelError = (err) => ui.error(err, t("job.cancelFailed"));
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
    if (!editor.hasImage) throw new Error(t("job.needsPicture"));
    const body = tasks.fields();
    if (tasks.spec.needsMask) {
      if (editor.maskIsEmpty()) throw new Error(t("job.needsMask", { task: t(tasks.spec.label) }));
      body.mask = await editor.maskForOriginal();
      body.mask_tool_type = editor.maskToolType();
    }
    if (tasks.task === "insertion") Object.assign(body, await this.reference.fields());
    body.input_image = await this.pictures.input();
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
      if (!this.pictures.confirmRun()) {
        progress.hide();
        return;
      }
      body = await this.buildRequest();
    } catch (err) {
      progress.hide();
      ui.error(err, t("job.cannotRun"));
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
    try {
      let outcome;
      try {
        outcome = await runner.run(body);
      } catch (err) {
        // The service forgot the picture (its asset expired): upload it again, once.
        if (runner.taskId || !err || err.status !== 404) throw err;
        body.input_image = await this.pictures.renewInput();
        outcome = await runner.run(body);
      }
      const { state, result } = outcome;
      if (state.status === "done" && result) {
        await this.pictures.accept(result, { taskId: runner.taskId, task });
        progress.render(state);
        ui.announce(t("job.doneAnnounce"));
      } else if (state.status === "cancelled") {
        ui.announce(t("job.cancelledAnnounce"));
      } else if (state.status === "error") {
        const reason = errorText(state.error) || t("job.noReason");
        ui.error(new Error(reason.charAt(0).toUpperCase() + reason.slice(1)), t("job.failed"));
      }
    } catch (err) {
      progress.render({ status: "error" });
      ui.error(err, runner.taskId ? t("job.stopped") : t("job.notStarted"));
    }
  }

  async cancel() {
    this.els.cancel.disabled = true;
    this.progress.els.status.textContent = t("cancelling");
    if (!this.runner.running) {
      // Still preparing the request: it will not be sent.
      this.cancelBeforeStart = true;
      return;
    }
    try {
      await this.runner.cancel();
    } catch (err) {
      this.els.cancel.disabled = false;
      this.ui.error(err, t("job.cancelFailed"));
    }
  }
}
