// The view onto the picture: layers of image-sized canvases moved and scaled together with one CSS
// transform (pixels stay at full resolution for reading back), fitted by default, zoomed by wheel or
// buttons around a point, panned by drag.

const MIN_SCALE = 0.02;
const MAX_SCALE = 32;

export class Viewport {
  /**
   * @param {HTMLElement} stage the clipping box that receives pointer events
   * @param {HTMLElement[]} layers elements holding canvases at image size
   */
  constructor(stage, layers) {
    this.stage = stage;
    this.layers = layers;
    this.width = 0;
    this.height = 0;
    this.scale = 1;
    this.tx = 0;
    this.ty = 0;
    this.fitted = true;
    /** Called after every change of the transform. */
    this.onChange = null;
    new ResizeObserver(() => {
      if (this.fitted) this.fit();
      else this.apply();
    }).observe(stage);
    stage.addEventListener("wheel", (event) => this.onWheel(event), { passive: false });
  }

  get hasContent() {
    return this.width > 0 && this.height > 0;
  }

  setContent(width, height) {
    this.width = width;
    this.height = height;
    this.fit();
  }

  stageSize() {
    return { w: this.stage.clientWidth, h: this.stage.clientHeight };
  }

  /** Whole picture visible and centred, never enlarged past 100 %. */
  fit() {
    if (!this.hasContent) return;
    const { w, h } = this.stageSize();
    const pad = 16;
    const scale = Math.min(1, (w - pad * 2) / this.width, (h - pad * 2) / this.height);
    this.scale = Math.max(MIN_SCALE, scale);
    this.tx = (w - this.width * this.scale) / 2;
    this.ty = (h - this.height * this.scale) / 2;
    this.fitted = true;
    this.apply();
  }

  /** Scale so that one image pixel is one CSS pixel, around the stage's centre. */
  actualSize() {
    const { w, h } = this.stageSize();
    this.zoomTo(1, w / 2, h / 2);
  }

  /** Zoom by `factor` keeping the image point under stage point (sx, sy) in place. */
  zoomBy(factor, sx, sy) {
    this.zoomTo(this.scale * factor, sx, sy);
  }

  zoomTo(scale, sx, sy) {
    if (!this.hasContent) return;
    const next = Math.min(MAX_SCALE, Math.max(MIN_SCALE, scale));
    const ix = (sx - this.tx) / this.scale;
    const iy = (sy - this.ty) / this.scale;
    this.scale = next;
    this.tx = sx - ix * next;
    this.ty = sy - iy * next;
    this.fitted = false;
    this.apply();
  }

  zoomCentre(factor) {
    const { w, h } = this.stageSize();
    this.zoomBy(factor, w / 2, h / 2);
  }

  panBy(dx, dy) {
    this.tx += dx;
    this.ty += dy;
    this.fitted = false;
    this.apply();
  }

  onWheel(event) {
    if (!this.hasContent) return;
    event.preventDefault();
    const rect = this.stage.getBoundingClientRect();
    // Trackpads send many small deltas, mice a few large ones: scale the factor by the delta.
    const delta = event.deltaMode === 1 ? event.deltaY * 16 : event.deltaY;
    const factor = Math.exp(-Math.max(-300, Math.min(300, delta)) * 0.0015);
    this.zoomBy(factor, event.clientX - rect.left, event.clientY - rect.top);
  }

  apply() {
    const transform = `translate(${this.tx}px, ${this.ty}px) scale(${this.scale})`;
    for (const layer of this.layers) {
      layer.style.width = `${this.width}px`;
      layer.style.height = `${this.height}px`;
      layer.style.transform = transform;
    }
    if (this.onChange) this.onChange();
  }

  /** Image coordinates (floating point) of a pointer event's client position. */
  toImage(clientX, clientY) {
    const rect = this.stage.getBoundingClientRect();
    return { x: (clientX - rect.left - this.tx) / this.scale, y: (clientY - rect.top - this.ty) / this.scale };
  }

  /** Stage coordinates of an image point. */
  toStage(x, y) {
    return { x: x * this.scale + this.tx, y: y * this.scale + this.ty };
  }

  contains(point) {
    return point.x >= 0 && point.y >= 0 && point.x < this.width && point.y < this.height;
  }
}
