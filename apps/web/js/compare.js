// Before/after comparison on the stage: the two pictures at full resolution in one layer, the
// "after" one clipped at the split, which follows a drag on the stage or the range input.

import { t } from "./i18n.js";

export class Compare {
  /**
   * @param {object} els
   * @param {HTMLElement} els.layer
   * @param {HTMLCanvasElement} els.before
   * @param {HTMLCanvasElement} els.after
   * @param {HTMLInputElement} els.slider range 0..100
   * @param {import("./stage.js").Stage} stage
   */
  constructor({ layer, before, after, slider }, stage) {
    this.layer = layer;
    this.before = before;
    this.after = after;
    this.slider = slider;
    this.stage = stage;
    this.split = 0.5;
    this.dragging = false;
    slider.addEventListener("input", () => this.setSplit(Number(slider.value) / 100));
  }

  /** Put two pictures side by side at the split (the before one is scaled to the after's size). */
  show(beforeCanvas, afterCanvas) {
    const { width, height } = afterCanvas;
    for (const [target, source] of [[this.before, beforeCanvas], [this.after, afterCanvas]]) {
      target.width = width;
      target.height = height;
      const ctx = target.getContext("2d");
      ctx.clearRect(0, 0, width, height);
      ctx.drawImage(source, 0, 0, width, height);
    }
    this.setSplit(this.split);
  }

  setSplit(fraction) {
    this.split = Math.min(1, Math.max(0, fraction));
    const percent = Math.round(this.split * 1000) / 10;
    this.after.style.clipPath = `inset(0 0 0 ${percent}%)`;
    this.slider.value = String(Math.round(this.split * 100));
    this.slider.setAttribute("aria-valuetext", t("compare.valuetext", { before: Math.round(this.split * 100), after: Math.round((1 - this.split) * 100) }));
    this.stage.redraw();
  }

  pointerDown(event, point) {
    if (event.button !== 0) return;
    this.dragging = true;
    this.setSplit(point.x / this.after.width);
  }

  pointerMove(event, point) {
    if (this.dragging) this.setSplit(point.x / this.after.width);
  }

  pointerUp() {
    this.dragging = false;
  }

  cursor() {
    return "ew-resize";
  }

  drawOverlay(ctx, viewport) {
    const top = viewport.toStage(this.split * this.after.width, 0);
    const bottom = viewport.toStage(this.split * this.after.width, this.after.height);
    ctx.save();
    ctx.lineWidth = 3;
    ctx.strokeStyle = "rgba(0,0,0,0.6)";
    ctx.beginPath();
    ctx.moveTo(top.x, top.y);
    ctx.lineTo(bottom.x, bottom.y);
    ctx.stroke();
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = "#fff";
    ctx.stroke();
    const mid = (top.y + bottom.y) / 2;
    ctx.fillStyle = "#fff";
    ctx.beginPath();
    ctx.arc(top.x, mid, 9, 0, Math.PI * 2);
    ctx.fill();
    ctx.fillStyle = "#222";
    ctx.beginPath();
    ctx.moveTo(top.x - 6, mid);
    ctx.lineTo(top.x - 2, mid - 4);
    ctx.lineTo(top.x - 2, mid + 4);
    ctx.moveTo(top.x + 6, mid);
    ctx.lineTo(top.x + 2, mid - 4);
    ctx.lineTo(top.x + 2, mid + 4);
    ctx.fill();
    ctx.font = "600 12px system-ui, sans-serif";
    ctx.textBaseline = "top";
    label(ctx, t("compare.before"), top.x - 8, Math.max(8, top.y + 8), "right");
    label(ctx, t("compare.after"), top.x + 8, Math.max(8, top.y + 8), "left");
    ctx.restore();
  }
}

function label(ctx, text, x, y, align) {
  const w = ctx.measureText(text).width + 12;
  const left = align === "right" ? x - w : x;
  ctx.fillStyle = "rgba(0,0,0,0.6)";
  ctx.fillRect(left, y, w, 20);
  ctx.fillStyle = "#fff";
  ctx.textAlign = "left";
  ctx.fillText(text, left + 6, y + 4);
}
