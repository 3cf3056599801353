import { t } from "./i18n.js";

// The task form: which edit (removal, insertion, white balance), its prompt, and the advanced
// settings. Each task remembers what was typed for it, so switching tasks back and forth loses
// nothing. Only what the user filled in is sent.

// No prompt, steps or guidance of our own: left empty, the server's per-task defaults apply (the
// engine reports the steps it really runs).
export const TASKS = {
  removal: { label: "task.removal", needsMask: true },
  insertion: { label: "task.insertion", needsMask: true },
  "white-balance": { label: "task.white-balance", needsMask: false },
};

const MAX_SEED = Number.MAX_SAFE_INTEGER;

/** A message for a field the user must fix; the form focuses the field. */
export class FieldProblem extends Error {
  constructor(message, field) {
    super(message);
    this.field = field;
  }
}

export class TaskForm {
  /** @param {Record<string, HTMLElement>} els */
  constructor(els) {
    this.els = els;
    this.task = "removal";
    this.values = {};
    /** Called with the task name when it changes. */
    this.onTask = null;
    for (const radio of els.taskRadios) {
      radio.addEventListener("change", () => {
        if (radio.checked) this.select(radio.value);
      });
    }
    els.seedRandom.addEventListener("change", () => this.syncSeed());
    els.reset.addEventListener("click", () => this.fill(TASKS[this.task]));
    this.fill(TASKS[this.task]);
  }

  get spec() {
    return TASKS[this.task];
  }

  select(task) {
    if (!TASKS[task] || task === this.task) return;
    this.values[this.task] = this.read();
    this.task = task;
    for (const radio of this.els.taskRadios) radio.checked = radio.value === task;
    this.fill(this.values[task] || TASKS[task]);
    if (this.onTask) this.onTask(task);
  }

  read() {
    const e = this.els;
    return {
      prompt: e.prompt.value,
      negative_prompt: e.negative.value,
      steps: e.steps.value,
      guidance: e.guidance.value,
      seed: e.seed.value,
      seedRandom: e.seedRandom.checked,
      quality: e.quality.value,
      engine: e.engine.value,
    };
  }

  fill(v) {
    const e = this.els;
    e.prompt.value = v.prompt ?? "";
    e.negative.value = v.negative_prompt ?? "";
    e.steps.value = v.steps === undefined || v.steps === null ? "" : String(v.steps);
    e.guidance.value = v.guidance === undefined || v.guidance === null ? "" : String(v.guidance);
    e.seed.value = v.seed ?? e.seed.value ?? "";
    e.seedRandom.checked = v.seedRandom ?? true;
    e.quality.value = v.quality || "resized";
    e.engine.value = v.engine || "";
    this.syncSeed();
  }

  syncSeed() {
    this.els.seed.disabled = this.els.seedRandom.checked;
  }

  /** Use a result's seed again (turns "random" off). */
  useSeed(seed) {
    if (seed === null || seed === undefined) return;
    this.els.seed.value = String(seed);
    this.els.seedRandom.checked = false;
    this.syncSeed();
  }

  /** Forget remembered engine choices the server no longer offers. */
  dropUnknownEngines(offered) {
    for (const values of Object.values(this.values)) {
      if (values && values.engine && !offered.includes(values.engine)) values.engine = "";
    }
  }

  /** The request fields of the form; throws FieldProblem naming what to fix. */
  fields() {
    const e = this.els;
    const body = {
      task_type: this.task,
      // The seed client's field is required by the schema but may be empty: the service then
      // uses its prompt for the task.
      prompt: e.prompt.value.trim(),
      input_quality: e.quality.value === "original" ? "original" : "resized",
    };
    if (e.steps.value.trim() !== "") {
      const steps = Number(e.steps.value);
      if (!Number.isInteger(steps) || steps < 1 || steps > 100) throw new FieldProblem(t("field.steps"), e.steps);
      body.num_inference_steps = steps;
    }
    if (e.guidance.value.trim() !== "") {
      const guidance = Number(e.guidance.value);
      if (!Number.isFinite(guidance) || guidance < 0 || guidance > 50) throw new FieldProblem(t("field.guidance"), e.guidance);
      body.true_cfg_scale = guidance;
    }
    const negative = e.negative.value.trim();
    if (negative) body.negative_prompt = negative;
    if (!e.seedRandom.checked) {
      const seed = Number(e.seed.value);
      if (e.seed.value.trim() === "" || !Number.isInteger(seed) || seed < 0 || seed > MAX_SEED) {
        throw new FieldProblem(t("field.seed", { max: MAX_SEED }), e.seed);
      }
      body.seed = seed;
    }
    if (e.engine.value) body.engine = e.engine.value;
    return body;
  }
}
