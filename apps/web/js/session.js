// The editing session: the original picture (uploaded once as an asset), and a stack of edits on
// it. Each Run applies to the current picture and pushes its result; undo and redo move along the
// stack (across results), "back to original" returns to its start. The editor works on a
// display-sized copy of each picture; the full-size pictures are assets on the server.

import { canvasFromBlob, canvasToBlob, makeCanvas } from "./imageio.js";

/** Longest side of the copy the editor works on (masks are scaled to the original when sent). */
export const DISPLAY_MAX_SIDE = 2560;

/** A display-sized canvas of a decoded picture (the picture itself when it is small enough). */
export function displayCopy(source, width = source.width, height = source.height) {
  const scale = Math.min(1, DISPLAY_MAX_SIDE / Math.max(width, height));
  const w = Math.max(1, Math.round(width * scale));
  const h = Math.max(1, Math.round(height * scale));
  const canvas = makeCanvas(w, h);
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = scale !== 1;
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(source, 0, 0, w, h);
  return canvas;
}

/**
 * Decode a picture file (EXIF orientation applied) into its display copy and its full size.
 * @returns {Promise<{display: HTMLCanvasElement, width: number, height: number}>}
 */
export async function decodePicture(blob) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob, { imageOrientation: "from-image", colorSpaceConversion: "none", premultiplyAlpha: "none" });
  } catch {
    throw new Error("unreadable");
  }
  try {
    return { display: displayCopy(bitmap), width: bitmap.width, height: bitmap.height };
  } finally {
    bitmap.close();
  }
}

/**
 * @typedef {object} Step
 * @property {"original"|"edit"} kind
 * @property {HTMLCanvasElement} display the picture at display size
 * @property {string | null} assetId its full-size asset on the server
 * @property {string} [task] the task that made it
 * @property {string | null} [taskId] the job that made it
 * @property {number | null} [seed]
 * @property {Blob} [png] the display copy as PNG (made once, for saving)
 */

export class EditSession {
  constructor() {
    /** @type {{name: string, type: string, blob: Blob, width: number, height: number} | null} */
    this.original = null;
    /** @type {Step[]} */
    this.steps = [];
    this.index = -1;
    /** Called after every change of the stack or its position. */
    this.onChange = null;
  }

  get active() {
    return Boolean(this.original);
  }

  /** @returns {Step | null} */
  get current() {
    return this.steps[this.index] || null;
  }

  /** The step the current one was made from (what a comparison shows as "before"). */
  get previous() {
    return this.index > 0 ? this.steps[this.index - 1] : null;
  }

  get canUndo() {
    return this.index > 0;
  }

  get canRedo() {
    return this.index < this.steps.length - 1;
  }

  get edits() {
    return this.steps.length - 1;
  }

  /** Full size over display size (1 for a picture that is shown as it is). */
  get scale() {
    const step = this.steps[0];
    return this.original && step ? this.original.width / step.display.width : 1;
  }

  start(original, display) {
    this.original = original;
    this.steps = [{ kind: "original", display, assetId: null }];
    this.index = 0;
    this.changed();
  }

  clear() {
    this.original = null;
    this.steps = [];
    this.index = -1;
    this.changed();
  }

  /** A new edit on the current picture; edits that were undone are dropped. */
  push(step) {
    this.steps = this.steps.slice(0, this.index + 1);
    this.steps.push({ kind: "edit", ...step });
    this.index = this.steps.length - 1;
    this.changed();
  }

  moveTo(index) {
    if (index < 0 || index >= this.steps.length || index === this.index) return false;
    this.index = index;
    this.changed();
    return true;
  }

  undo() {
    return this.moveTo(this.index - 1);
  }

  redo() {
    return this.moveTo(this.index + 1);
  }

  toOriginal() {
    return this.moveTo(0);
  }

  changed() {
    if (this.onChange) this.onChange(this);
  }

  /** The session as a record for IndexedDB (blobs inside). */
  async toRecord(extra = {}) {
    const steps = [];
    for (const step of this.steps) {
      if (!step.png) step.png = await canvasToBlob(step.display, "image/png");
      steps.push({ kind: step.kind, assetId: step.assetId, task: step.task || null, taskId: step.taskId || null, seed: step.seed ?? null, png: step.png });
    }
    return { version: 1, original: this.original, steps, index: this.index, savedAt: Date.now(), ...extra };
  }

  /** Restore from a record made by toRecord. */
  async fromRecord(record) {
    const steps = [];
    for (const saved of record.steps) {
      steps.push({ ...saved, display: await canvasFromBlob(saved.png) });
    }
    this.original = record.original;
    this.steps = steps;
    this.index = Math.min(Math.max(0, record.index), steps.length - 1);
    this.changed();
  }
}
