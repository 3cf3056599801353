// The mask: a canvas of the image's size whose alpha is the mask value (0 keep .. 255 edit) and
// whose colour is the tint, so the same canvas is the data and the overlay. Undo keeps snapshots
// of the alpha channel only, a quarter of the pixels' bytes.

import { context2d, greyCanvas, greyValues, canvasToBase64 } from "./imageio.js";

/** The overlay's default colour: cyan stands out on skin, wood, foliage and red objects alike. */
export const TINT = [0, 200, 255];
const HISTORY_BYTES = 256 * 1024 * 1024;

export class MaskLayer {
  /** @param {HTMLCanvasElement} canvas the overlay canvas in the page */
  constructor(canvas) {
    this.canvas = canvas;
    this.ctx = context2d(canvas);
    this.width = canvas.width;
    this.height = canvas.height;
    this.tint = TINT.slice();
  }

  /** Recolour the overlay (the mask values stay as they are). */
  setTint(rgb) {
    const values = this.values();
    this.tint = rgb.slice(0, 3);
    this.setValues(values);
  }

  resize(width, height) {
    this.canvas.width = this.width = width;
    this.canvas.height = this.height = height;
    this.ctx = context2d(this.canvas);
  }

  clear() {
    this.ctx.clearRect(0, 0, this.width, this.height);
  }

  /** @returns {Uint8ClampedArray} one value per pixel */
  values() {
    const { data } = this.ctx.getImageData(0, 0, this.width, this.height);
    const out = new Uint8ClampedArray(this.width * this.height);
    for (let i = 3, p = 0; p < out.length; i += 4, p++) out[p] = data[i];
    return out;
  }

  setValues(values) {
    const image = this.ctx.createImageData(this.width, this.height);
    const { data } = image;
    for (let p = 0, i = 0; p < values.length; p++, i += 4) {
      data[i] = this.tint[0];
      data[i + 1] = this.tint[1];
      data[i + 2] = this.tint[2];
      data[i + 3] = values[p];
    }
    this.ctx.putImageData(image, 0, 0);
  }

  /** Replace the mask with a grey image (white = edit), scaled to the image if its size differs. */
  setFromImage(source) {
    this.setValues(greyValues(source, this.width, this.height));
  }

  isEmpty(values = this.values()) {
    for (let p = 0; p < values.length; p++) if (values[p] > 127) return false;
    return true;
  }

  /** The mask as the API wants it: an opaque black-and-white PNG, base64. */
  toBase64(values = this.values()) {
    return canvasToBase64(greyCanvas(values, this.width, this.height));
  }

  toGreyCanvas(values = this.values()) {
    return greyCanvas(values, this.width, this.height);
  }

  /** Paint (or erase) a round-capped segment in image pixels. */
  stroke(from, to, size, erase) {
    const ctx = this.ctx;
    ctx.save();
    ctx.globalCompositeOperation = erase ? "destination-out" : "source-over";
    ctx.strokeStyle = ctx.fillStyle = `rgb(${this.tint.join(",")})`;
    ctx.lineWidth = size;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    if (from.x === to.x && from.y === to.y) {
      ctx.beginPath();
      ctx.arc(to.x, to.y, size / 2, 0, Math.PI * 2);
      ctx.fill();
    } else {
      ctx.beginPath();
      ctx.moveTo(from.x, from.y);
      ctx.lineTo(to.x, to.y);
      ctx.stroke();
    }
    ctx.restore();
  }

  /** Fill (or clear) the rectangle spanned by two corners, in image pixels. */
  fillRect(a, b, erase) {
    const x = Math.max(0, Math.round(Math.min(a.x, b.x)));
    const y = Math.max(0, Math.round(Math.min(a.y, b.y)));
    const w = Math.min(this.width, Math.round(Math.max(a.x, b.x))) - x;
    const h = Math.min(this.height, Math.round(Math.max(a.y, b.y))) - y;
    if (w <= 0 || h <= 0) return false;
    if (erase) this.ctx.clearRect(x, y, w, h);
    else {
      this.ctx.fillStyle = `rgb(${this.tint.join(",")})`;
      this.ctx.fillRect(x, y, w, h);
    }
    return true;
  }
}

/** Per-pixel maximum of two masks: a smart-mask answer added to what was there before. */
export function unionValues(a, b) {
  const out = new Uint8ClampedArray(a.length);
  for (let p = 0; p < a.length; p++) out[p] = a[p] > b[p] ? a[p] : b[p];
  return out;
}

/** Undo/redo over snapshots of every mask edit, bounded in memory. */
export class MaskHistory {
  constructor() {
    this.states = [];
    this.index = -1;
    this.limit = 50;
    this.onChange = null;
  }

  reset(values) {
    this.states = [{ values, label: "start" }];
    this.index = 0;
    this.limit = Math.max(5, Math.min(100, Math.floor(HISTORY_BYTES / Math.max(1, values.length))));
    this.changed();
  }

  /** Record the mask after an edit named `label` (drops anything that was redoable). */
  push(values, label) {
    this.states.splice(this.index + 1);
    this.states.push({ values, label });
    if (this.states.length > this.limit) this.states.splice(0, this.states.length - this.limit);
    this.index = this.states.length - 1;
    this.changed();
  }

  get canUndo() {
    return this.index > 0;
  }

  get canRedo() {
    return this.index >= 0 && this.index < this.states.length - 1;
  }

  /** @returns {{values: Uint8ClampedArray, label: string} | null} the state to show, and the undone label */
  undo() {
    if (!this.canUndo) return null;
    const undone = this.states[this.index].label;
    this.index -= 1;
    this.changed();
    return { values: this.states[this.index].values, label: undone };
  }

  redo() {
    if (!this.canRedo) return null;
    this.index += 1;
    this.changed();
    return { values: this.states[this.index].values, label: this.states[this.index].label };
  }

  /** The current state's values (what the mask shows after the last recorded edit). */
  current() {
    return this.index >= 0 ? this.states[this.index].values : null;
  }

  /** Labels of every recorded edit up to the current one (to tell which tools made the mask). */
  labels() {
    return this.states.slice(1, this.index + 1).map((s) => s.label);
  }

  changed() {
    if (this.onChange) this.onChange();
  }
}
