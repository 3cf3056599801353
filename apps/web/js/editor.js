// Mask editing on the stage: brush and eraser strokes, boxes, smart-mask clicks (include, or
// exclude with Alt / right button) and drags (a box prompt), each recorded for undo. A smart
// session collects clicks on one object; its answer is added to the mask as it was before the
// session began, so several objects can be selected one after the other.

import { t } from "./i18n.js";
import { canvasToBase64, makeCanvas } from "./imageio.js";
import { MaskHistory, MaskLayer, unionValues } from "./mask.js";
import { SmartImage, SmartMasker } from "./smartmask.js";

export const TOOLS = ["brush", "eraser", "box", "smart", "pan"];
const DRAG_PX = 5;

export class Editor {
  /**
   * @param {object} deps
   * @param {import("./stage.js").Stage} deps.stage
   * @param {HTMLCanvasElement} deps.imageCanvas
   * @param {HTMLCanvasElement} deps.maskCanvas
   * @param {import("./api.js").ApiClient} deps.api
   * @param {{error: (e: unknown, context?: string) => void, announce: (text: string) => void}} deps.ui
   */
  constructor({ stage, imageCanvas, maskCanvas, api, ui }) {
    this.stage = stage;
    this.imageCanvas = imageCanvas;
    this.mask = new MaskLayer(maskCanvas);
    this.history = new MaskHistory();
    this.smart = new SmartMasker(api);
    this.ui = ui;
    this.tool = "brush";
    this.brushSize = 40;
    this.smartOptions = { border_adjustment: 0, use_blur: false };
    this.image = null;
    this.gesture = null;
    this.session = null;
    this.keyCursor = null;
    /** Called when the tool, brush size, session or history changes. */
    this.onState = null;
    this.history.onChange = () => this.changed();
    this.smart.onBusy = () => this.changed();
  }

  get hasImage() {
    return Boolean(this.image);
  }

  get width() {
    return this.imageCanvas.width;
  }

  get height() {
    return this.imageCanvas.height;
  }

  /**
   * Show a new picture to edit: the mask, its history and any smart session start over.
   * @param {HTMLCanvasElement} canvas the picture at display size
   * @param {{asset?: object | null, original?: {width: number, height: number}}} opts its asset
   *   (see SmartImage) and the size of the original it is a copy of
   */
  loadImage(canvas, { asset = null, original = null } = {}) {
    this.original = original || { width: canvas.width, height: canvas.height };
    const scale = this.original.width / canvas.width;
    this.imageCanvas.width = canvas.width;
    this.imageCanvas.height = canvas.height;
    this.imageCanvas.getContext("2d").drawImage(canvas, 0, 0);
    this.mask.resize(canvas.width, canvas.height);
    this.scale = scale;
    this.image = new SmartImage(this.imageCanvas, asset, scale);
    this.smart.setImage(this.image);
    this.session = null;
    this.keyCursor = null;
    this.brushSize = Math.max(4, Math.round(Math.min(canvas.width, canvas.height) / 20));
    this.history.reset(this.mask.values());
    this.stage.viewport.setContent(canvas.width, canvas.height);
    this.changed();
  }

  /**
   * The picture changes (a result, an undone edit) but the mask and its history stay: the next
   * Run can apply the same mask again, or the user refines it.
   */
  replaceImage(canvas, { asset = null } = {}) {
    if (!this.image || canvas.width !== this.width || canvas.height !== this.height) {
      this.loadImage(canvas, { asset, original: this.original });
      return;
    }
    const ctx = this.imageCanvas.getContext("2d");
    ctx.clearRect(0, 0, this.width, this.height);
    ctx.drawImage(canvas, 0, 0);
    this.endSession();
    this.image = new SmartImage(this.imageCanvas, asset, this.scale || 1);
    this.smart.setImage(this.image);
    this.changed();
  }

  /** The mask as the API wants it, at the original picture's size: a black-and-white PNG, base64. */
  async maskForOriginal() {
    const scale = this.scale || 1;
    if (scale === 1) return this.mask.toBase64();
    const grey = this.mask.toGreyCanvas();
    const full = makeCanvas(this.original.width, this.original.height);
    const ctx = full.getContext("2d");
    // Smooth edges when enlarged; the service reads > 127 as "edit here".
    ctx.imageSmoothingEnabled = true;
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(grey, 0, 0, full.width, full.height);
    const b64 = await canvasToBase64(full);
    full.width = full.height = 0;
    return b64;
  }

  changed() {
    this.stage.updateCursor();
    this.stage.redraw();
    if (this.onState) this.onState();
  }

  setTool(tool) {
    if (!TOOLS.includes(tool)) return;
    if (tool !== "smart") this.endSession();
    this.tool = tool;
    this.changed();
  }

  setBrushSize(size) {
    this.brushSize = Math.max(1, Math.min(1000, Math.round(size)));
    this.changed();
  }

  /** `[` and `]`: about 15 % a step, at least one pixel. */
  stepBrush(direction) {
    const step = Math.max(1, Math.round(this.brushSize * 0.15));
    this.setBrushSize(this.brushSize + direction * step);
  }

  // -- mask state ---------------------------------------------------------------------------

  maskValues() {
    return this.mask.values();
  }

  maskIsEmpty() {
    return this.mask.isEmpty();
  }

  maskBase64() {
    return this.mask.toBase64();
  }

  /** "box" when only the box tool made the mask (the engine may treat boxes differently). */
  maskToolType() {
    const labels = this.history.labels().filter((l) => l !== "clear");
    return labels.length > 0 && labels.every((l) => l === "box") ? "box" : "brush";
  }

  /** Replace the whole mask (an operation's answer, an upload) as one undoable edit. */
  applyMask(values, label) {
    this.endSession();
    this.mask.setValues(values);
    this.history.push(this.mask.values(), label);
  }

  clearMask() {
    if (this.mask.isEmpty() && !this.session) return;
    this.endSession();
    this.mask.clear();
    this.history.push(this.mask.values(), "clear");
    this.ui.announce(t("mask.cleared"));
  }

  commit(label) {
    this.history.push(this.mask.values(), label);
  }

  undo() {
    const state = this.history.undo();
    if (!state) return false;
    this.endSession();
    this.mask.setValues(state.values);
    this.ui.announce(t("undid", { label: t(`edit.${state.label.replace(/ /g, "-")}`) }));
    return true;
  }

  redo() {
    const state = this.history.redo();
    if (!state) return false;
    this.endSession();
    this.mask.setValues(state.values);
    this.ui.announce(t("redid", { label: t(`edit.${state.label.replace(/ /g, "-")}`) }));
    return true;
  }

  // -- smart mask -----------------------------------------------------------------------------

  /** Finish the current smart selection (its mask stays); the next click starts a new object. */
  endSession() {
    if (!this.session) return;
    this.session = null;
    this.changed();
  }

  async smartPrompt(update) {
    if (!this.session) this.session = { points: [], labels: [], bbox: null, base: this.history.current() || this.mask.values() };
    const session = this.session;
    update(session);
    this.changed();
    const prompts = { ...this.smartOptions };
    if (session.points.length) {
      prompts.points = session.points.map((p) => [Math.round(p.x), Math.round(p.y)]);
      prompts.point_labels = session.labels.slice();
    }
    if (session.bbox) prompts.bbox = session.bbox.map((v) => Math.round(v));
    if (!session.labels.includes(1) && !session.bbox) {
      this.ui.announce(t("smart.excludeFirst"));
    }
    try {
      const result = await this.smart.segment(prompts);
      if (!result || this.session !== session) return;
      this.mask.setValues(unionValues(session.base, result.values));
      this.commit("smart mask");
      const score = typeof result.score === "number" ? t("smart.score", { score: result.score.toFixed(2) }) : "";
      this.ui.announce(t("smart.updated", { count: session.points.length, score }));
    } catch (err) {
      if (this.session === session) {
        // Keep the prompts consistent with the mask that is shown: drop the one that failed.
        update.undo?.(session);
        if (!session.points.length && !session.bbox) this.session = null;
        this.changed();
      }
      this.ui.error(err, t("smart.failed"));
    }
  }

  addSmartPoint(point, label) {
    const apply = (s) => {
      s.points.push(point);
      s.labels.push(label);
    };
    apply.undo = (s) => {
      s.points.pop();
      s.labels.pop();
    };
    return this.smartPrompt(apply);
  }

  setSmartBox(a, b) {
    const box = [Math.min(a.x, b.x), Math.min(a.y, b.y), Math.max(a.x, b.x), Math.max(a.y, b.y)];
    box[0] = Math.max(0, box[0]);
    box[1] = Math.max(0, box[1]);
    box[2] = Math.min(this.width - 1, box[2]);
    box[3] = Math.min(this.height - 1, box[3]);
    let previous = null;
    const apply = (s) => {
      previous = s.bbox;
      s.bbox = box;
    };
    apply.undo = (s) => {
      s.bbox = previous;
    };
    return this.smartPrompt(apply);
  }

  // -- stage mode -------------------------------------------------------------------------------

  wantsPan() {
    return this.tool === "pan";
  }

  cursor() {
    if (this.tool === "brush" || this.tool === "eraser") return "none";
    return "crosshair";
  }

  pointerDown(event, point) {
    const erase = this.tool === "eraser" || event.altKey || event.button === 2;
    if (this.tool === "brush" || this.tool === "eraser") {
      this.gesture = { kind: "stroke", last: point, erase };
      this.mask.stroke(point, point, this.brushSize, erase);
    } else if (this.tool === "box") {
      this.gesture = { kind: "box", start: point, end: point, erase };
    } else if (this.tool === "smart") {
      this.gesture = { kind: "smart", start: point, end: point, screen: { x: event.clientX, y: event.clientY }, dragging: false, exclude: erase };
    }
  }

  /** A pinch began: take back the stroke or box the first finger started. */
  cancelGesture() {
    const g = this.gesture;
    this.gesture = null;
    if (g && g.kind === "stroke") {
      const state = this.history.current();
      if (state) this.mask.setValues(state);
      else this.mask.clear();
    }
    this.changed();
  }

  pointerMove(event, point) {
    const g = this.gesture;
    if (!g) return;
    if (g.kind === "stroke") {
      this.mask.stroke(g.last, point, this.brushSize, g.erase);
      g.last = point;
    } else if (g.kind === "box") {
      g.end = point;
    } else if (g.kind === "smart") {
      g.end = point;
      if (Math.hypot(event.clientX - g.screen.x, event.clientY - g.screen.y) > DRAG_PX) g.dragging = true;
    }
  }

  pointerUp(event, point) {
    const g = this.gesture;
    this.gesture = null;
    if (!g) return;
    if (g.kind === "stroke") {
      this.commit(g.erase ? "eraser" : "brush");
    } else if (g.kind === "box") {
      if (this.mask.fillRect(g.start, point, g.erase)) this.commit(g.erase ? "box erase" : "box");
    } else if (g.kind === "smart") {
      if (g.dragging) {
        this.setSmartBox(g.start, point);
      } else if (this.stage.viewport.contains(point)) {
        this.addSmartPoint(point, g.exclude ? 0 : 1);
      } else {
        this.ui.announce(t("smart.outside"));
      }
    }
  }

  drawOverlay(ctx, viewport, hover) {
    const g = this.gesture;
    if (this.session) {
      for (let i = 0; i < this.session.points.length; i++) {
        const s = viewport.toStage(this.session.points[i].x, this.session.points[i].y);
        drawMarker(ctx, s.x, s.y, this.session.labels[i] === 1);
      }
      if (this.session.bbox) drawBox(ctx, viewport, this.session.bbox, "#ffd23f");
    }
    if (g && (g.kind === "box" || (g.kind === "smart" && g.dragging))) {
      drawBox(ctx, viewport, [g.start.x, g.start.y, g.end.x, g.end.y], g.erase ? "#9ad" : "#fff");
    }
    const at = this.keyCursor || hover;
    if (at && (this.tool === "brush" || this.tool === "eraser")) {
      const s = viewport.toStage(at.x, at.y);
      const r = Math.max(1, (this.brushSize * viewport.scale) / 2);
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = "rgba(0,0,0,0.8)";
      ctx.beginPath();
      ctx.arc(s.x, s.y, r + 1, 0, Math.PI * 2);
      ctx.stroke();
      ctx.strokeStyle = this.tool === "eraser" ? "#9ad" : "#fff";
      ctx.beginPath();
      ctx.arc(s.x, s.y, r, 0, Math.PI * 2);
      ctx.stroke();
    } else if (this.keyCursor) {
      const s = viewport.toStage(this.keyCursor.x, this.keyCursor.y);
      ctx.strokeStyle = "#fff";
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.moveTo(s.x - 10, s.y);
      ctx.lineTo(s.x + 10, s.y);
      ctx.moveTo(s.x, s.y - 10);
      ctx.lineTo(s.x, s.y + 10);
      ctx.stroke();
    }
  }

  // -- keyboard use of the canvas ---------------------------------------------------------------

  /** Arrow keys move a cursor over the picture; Enter applies the tool there (Alt+Enter excludes). */
  onStageKey(event) {
    if (!this.hasImage) return false;
    const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    if (moves[event.key]) {
      if (!this.keyCursor) this.keyCursor = { x: this.width / 2, y: this.height / 2 };
      const step = (event.shiftKey ? 50 : 10) / this.stage.viewport.scale;
      const [dx, dy] = moves[event.key];
      this.keyCursor = {
        x: Math.min(this.width - 1, Math.max(0, this.keyCursor.x + dx * step)),
        y: Math.min(this.height - 1, Math.max(0, this.keyCursor.y + dy * step)),
      };
      this.stage.redraw();
      return true;
    }
    if (event.key === "Enter" && this.keyCursor) {
      const p = this.keyCursor;
      if (this.tool === "smart") this.addSmartPoint(p, event.altKey ? 0 : 1);
      else if (this.tool === "brush" || this.tool === "eraser") {
        const erase = this.tool === "eraser" || event.altKey;
        this.mask.stroke(p, p, this.brushSize, erase);
        this.commit(erase ? "eraser" : "brush");
      }
      return true;
    }
    return false;
  }
}

function drawMarker(ctx, x, y, include) {
  ctx.lineWidth = 2;
  ctx.fillStyle = include ? "#2ecc71" : "#e74c3c";
  ctx.strokeStyle = "#fff";
  ctx.beginPath();
  ctx.arc(x, y, 7, 0, Math.PI * 2);
  ctx.fill();
  ctx.stroke();
  ctx.strokeStyle = "#fff";
  ctx.beginPath();
  ctx.moveTo(x - 3.5, y);
  ctx.lineTo(x + 3.5, y);
  if (include) {
    ctx.moveTo(x, y - 3.5);
    ctx.lineTo(x, y + 3.5);
  }
  ctx.stroke();
}

function drawBox(ctx, viewport, box, colour) {
  const a = viewport.toStage(box[0], box[1]);
  const b = viewport.toStage(box[2], box[3]);
  ctx.save();
  ctx.lineWidth = 1.5;
  ctx.setLineDash([6, 4]);
  ctx.strokeStyle = "rgba(0,0,0,0.7)";
  ctx.strokeRect(a.x, a.y, b.x - a.x, b.y - a.y);
  ctx.lineDashOffset = 5;
  ctx.strokeStyle = colour;
  ctx.strokeRect(a.x, a.y, b.x - a.x, b.y - a.y);
  ctx.restore();
}
