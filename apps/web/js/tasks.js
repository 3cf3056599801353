// The task form: which edit (removal, insertion, white balance), its prompt, and the advanced
// settings. Each task has its own defaults and remembers what was typed for it, so switching
// tasks back and forth loses nothing.

export const TASKS = {
  removal: {
    label: "Removal",
    needsMask: true,
    prompt: "Remove the selected object and fill the area so that it blends with its surroundings.",
    negative_prompt: "",
    steps: 28,
    guidance: 4,
  },
  insertion: {
    label: "Insertion",
    needsMask: true,
    prompt: "Insert the object from the reference picture into the selected area, matching its light, scale and perspective.",
    negative_prompt: "",
    steps: 28,
    guidance: 4,
  },
  "white-balance": {
    label: "White balance",
    needsMask: false,
    prompt: "Correct the white balance so that neutral colours look neutral.",
    negative_prompt: "",
    steps: 20,
    guidance: 4,
  },
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
    e.steps.value = String(v.steps ?? 28);
    e.guidance.value = String(v.guidance ?? 4);
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

  /** The request fields of the form; throws FieldProblem naming what to fix. */
  fields() {
    const e = this.els;
    const steps = Number(e.steps.value);
    if (!Number.isInteger(steps) || steps < 1 || steps > 100) {
      throw new FieldProblem("Steps must be a whole number from 1 to 100.", e.steps);
    }
    const guidance = Number(e.guidance.value);
    if (e.guidance.value === "" || !Number.isFinite(guidance) || guidance < 0 || guidance > 50) {
      throw new FieldProblem("Guidance must be a number from 0 to 50.", e.guidance);
    }
    const body = {
      task_type: this.task,
      prompt: e.prompt.value.trim(),
      num_inference_steps: steps,
      true_cfg_scale: guidance,
      input_quality: e.quality.value === "original" ? "original" : "resized",
    };
    if (this.task !== "white-balance" && !body.prompt) {
      throw new FieldProblem("Write a prompt that says what to do.", e.prompt);
    }
    const negative = e.negative.value.trim();
    if (negative) body.negative_prompt = negative;
    if (!e.seedRandom.checked) {
      const seed = Number(e.seed.value);
      if (e.seed.value.trim() === "" || !Number.isInteger(seed) || seed < 0 || seed > MAX_SEED) {
        throw new FieldProblem(`The seed must be a whole number from 0 to ${MAX_SEED}, or tick "Random".`, e.seed);
      }
      body.seed = seed;
    }
    if (e.engine.value) body.engine = e.engine.value;
    return body;
  }
}
