// The stage: the box the picture lives in. It owns the viewport, panning (space + drag, middle
// button, the hand tool, or two fingers), pinch zoom, the screen-space overlay canvas, and hands
// every other pointer gesture to the active mode (editing the mask, or comparing a result). On a
// touch screen one finger paints; a second finger turns the gesture into zoom and pan (the
// stroke the first finger began is taken back).

import { Viewport } from "./viewport.js";

/**
 * @typedef {object} StageMode
 * @property {(event: PointerEvent, point: {x: number, y: number}) => void} pointerDown
 * @property {(event: PointerEvent, point: {x: number, y: number}) => void} pointerMove
 * @property {(event: PointerEvent, point: {x: number, y: number}) => void} pointerUp
 * @property {(ctx: CanvasRenderingContext2D, viewport: Viewport, hover: {x: number, y: number} | null) => void} drawOverlay
 * @property {() => boolean} [wantsPan]
 * @property {() => string} [cursor]
 * @property {() => void} [cancelGesture] drop the gesture in progress (a pinch began)
 */

export class Stage {
  /**
   * @param {HTMLElement} element the stage box
   * @param {HTMLElement[]} layers image-sized layers moved by the viewport
   * @param {HTMLCanvasElement} overlay screen-space canvas on top
   */
  constructor(element, layers, overlay) {
    this.element = element;
    this.overlay = overlay;
    this.viewport = new Viewport(element, layers);
    this.viewport.onChange = () => {
      this.redraw();
      if (this.onViewChange) this.onViewChange(this.viewport);
    };
    /** Called after every zoom or pan. */
    this.onViewChange = null;
    /** @type {StageMode | null} */
    this.mode = null;
    this.hover = null;
    this.spaceDown = false;
    this.panning = null;
    this.active = false;
    this.frame = 0;
    /** Touch points down now, by pointer id (client coordinates). */
    this.touches = new Map();
    /** A two-finger gesture: the distance and midpoint of the fingers last seen. */
    this.pinch = null;
    this.bind();
  }

  setMode(mode) {
    this.mode = mode;
    this.updateCursor();
    this.redraw();
  }

  bind() {
    const el = this.element;
    el.addEventListener("pointerdown", (e) => this.onDown(e));
    el.addEventListener("pointermove", (e) => this.onMove(e));
    el.addEventListener("pointerup", (e) => this.onUp(e));
    el.addEventListener("pointercancel", (e) => this.onUp(e));
    el.addEventListener("pointerleave", () => {
      if (!this.active) {
        this.hover = null;
        this.redraw();
      }
    });
    el.addEventListener("contextmenu", (e) => e.preventDefault());
    window.addEventListener("keydown", (e) => {
      // Space pans where it has no meaning of its own, or while the pointer is over the picture
      // (then a focused button must not be pressed by it either: see keyup).
      const free = e.target === document.body || e.target === this.element;
      if (e.code === "Space" && !isTyping(e.target) && (free || (this.hover && this.viewport.hasContent))) {
        if (!this.spaceDown) {
          this.spaceDown = true;
          this.updateCursor();
        }
        e.preventDefault();
      }
    });
    window.addEventListener("keyup", (e) => {
      if (e.code === "Space" && this.spaceDown) {
        this.spaceDown = false;
        this.updateCursor();
        e.preventDefault();
      }
    });
    window.addEventListener("blur", () => {
      this.spaceDown = false;
      this.updateCursor();
    });
  }

  wantsPan(event) {
    return this.spaceDown || event.button === 1 || Boolean(this.mode && this.mode.wantsPan && this.mode.wantsPan());
  }

  onDown(event) {
    if (!this.viewport.hasContent || !this.mode) return;
    if (event.pointerType === "touch") {
      this.touches.set(event.pointerId, { x: event.clientX, y: event.clientY });
      this.element.setPointerCapture(event.pointerId);
      if (this.touches.size >= 2) {
        this.startPinch();
        event.preventDefault();
        return;
      }
      if (this.pinch) return; // a finger left over from a pinch does not paint
    }
    if (event.button !== 0 && event.button !== 1 && event.button !== 2) return;
    this.element.setPointerCapture(event.pointerId);
    this.active = true;
    if (this.wantsPan(event)) {
      this.panning = { x: event.clientX, y: event.clientY };
      this.updateCursor();
      event.preventDefault();
      return;
    }
    this.mode.pointerDown(event, this.viewport.toImage(event.clientX, event.clientY));
    this.redraw();
  }

  startPinch() {
    if (this.active && !this.panning && this.mode && this.mode.cancelGesture) this.mode.cancelGesture();
    this.active = false;
    this.panning = null;
    this.pinch = this.fingers();
    this.redraw();
  }

  /** Distance and midpoint (stage coordinates) of the first two touch points. */
  fingers() {
    const [a, b] = [...this.touches.values()];
    const rect = this.element.getBoundingClientRect();
    return {
      distance: Math.max(1, Math.hypot(a.x - b.x, a.y - b.y)),
      x: (a.x + b.x) / 2 - rect.left,
      y: (a.y + b.y) / 2 - rect.top,
    };
  }

  onMove(event) {
    if (event.pointerType === "touch" && this.touches.has(event.pointerId)) {
      this.touches.set(event.pointerId, { x: event.clientX, y: event.clientY });
      if (this.pinch) {
        if (this.touches.size >= 2) {
          const now = this.fingers();
          this.viewport.panBy(now.x - this.pinch.x, now.y - this.pinch.y);
          this.viewport.zoomBy(now.distance / this.pinch.distance, now.x, now.y);
          this.pinch = now;
        }
        return;
      }
    }
    const point = this.viewport.toImage(event.clientX, event.clientY);
    this.hover = point;
    if (this.panning) {
      this.viewport.panBy(event.clientX - this.panning.x, event.clientY - this.panning.y);
      this.panning = { x: event.clientX, y: event.clientY };
      return;
    }
    if (this.active && this.mode) this.mode.pointerMove(event, point);
    this.redraw();
  }

  onUp(event) {
    if (event.pointerType === "touch") {
      this.touches.delete(event.pointerId);
      if (this.pinch) {
        if (this.element.hasPointerCapture(event.pointerId)) this.element.releasePointerCapture(event.pointerId);
        // The pinch ends when the last finger lifts; until then nothing paints.
        if (this.touches.size === 0) this.pinch = null;
        else if (this.touches.size >= 2) this.pinch = this.fingers();
        return;
      }
    }
    if (!this.active) return;
    this.active = false;
    if (this.element.hasPointerCapture(event.pointerId)) this.element.releasePointerCapture(event.pointerId);
    if (this.panning) {
      this.panning = null;
      this.updateCursor();
      return;
    }
    if (this.mode) this.mode.pointerUp(event, this.viewport.toImage(event.clientX, event.clientY));
    this.redraw();
  }

  updateCursor() {
    let cursor = "default";
    if (this.panning) cursor = "grabbing";
    else if (this.spaceDown || (this.mode && this.mode.wantsPan && this.mode.wantsPan())) cursor = "grab";
    else if (this.mode && this.mode.cursor) cursor = this.mode.cursor();
    this.element.style.cursor = this.viewport.hasContent ? cursor : "default";
  }

  /** Redraw the overlay on the next frame (many pointer moves collapse into one draw). */
  redraw() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  draw() {
    const canvas = this.overlay;
    const dpr = window.devicePixelRatio || 1;
    const w = this.element.clientWidth;
    const h = this.element.clientHeight;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    if (this.mode && this.viewport.hasContent) this.mode.drawOverlay(ctx, this.viewport, this.hover);
  }
}

/** Whether keys typed now belong to a text field rather than to the editor's shortcuts. */
export function isTyping(target) {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable) return true;
  if (target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement) return true;
  if (target instanceof HTMLInputElement) {
    return !["checkbox", "radio", "button", "submit", "reset", "range", "file", "color"].includes(target.type);
  }
  return false;
}
