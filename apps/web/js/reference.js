// The reference panel of an insertion: the picture holding the object, the object selected on it
// with its own smart-mask clicks (or the whole picture), and a preview of the cut-out made by
// image-utils, which is what the insertion will place.

import { t } from "./i18n.js";
import { canvasFromBlob, greyCanvas, imageFileFrom } from "./imageio.js";
import { extractObject } from "./imageutils.js";
import { MaskLayer } from "./mask.js";
import { SmartImage, SmartMasker } from "./smartmask.js";

export class ReferencePanel {
  /**
   * @param {import("./api.js").ApiClient} api
   * @param {Record<string, HTMLElement>} els
   * @param {{error: (e: unknown, context?: string) => void, announce: (text: string) => void}} ui
   */
  constructor(api, els, ui) {
    this.api = api;
    this.els = els;
    this.ui = ui;
    this.smart = new SmartMasker(api);
    this.mask = new MaskLayer(els.mask);
    this.image = null;
    this.points = [];
    this.labels = [];
    this.hasMask = false;
    this.previewSeq = 0;
    this.bind();
  }

  bind() {
    const { file, area, wholeButton, clearButton } = this.els;
    file.addEventListener("change", () => {
      if (file.files && file.files[0]) this.open(file.files[0]);
      file.value = "";
    });
    area.addEventListener("dragover", (e) => {
      e.preventDefault();
      e.stopPropagation();
    });
    area.addEventListener("drop", (e) => {
      e.preventDefault();
      e.stopPropagation();
      const f = imageFileFrom(e.dataTransfer);
      if (f) this.open(f);
    });
    area.addEventListener("contextmenu", (e) => e.preventDefault());
    area.addEventListener("pointerup", (e) => this.click(e));
    area.addEventListener("keydown", (e) => {
      if (!this.image || (e.key !== "Enter" && e.key !== " ")) return;
      e.preventDefault();
      // Keyboard: one include point at the centre of the picture; "Whole picture" covers the rest.
      this.addPoint({ x: this.image.canvas.width / 2, y: this.image.canvas.height / 2 }, e.altKey ? 0 : 1);
    });
    wholeButton.addEventListener("click", () => this.selectWhole());
    clearButton.addEventListener("click", () => this.clearSelection());
  }

  get ready() {
    return Boolean(this.image && this.hasMask);
  }

  async open(fileOrBlob) {
    try {
      const canvas = await canvasFromBlob(fileOrBlob);
      const view = this.els.canvas;
      view.width = canvas.width;
      view.height = canvas.height;
      view.getContext("2d").drawImage(canvas, 0, 0);
      this.mask.resize(canvas.width, canvas.height);
      this.image = new SmartImage(view);
      this.smart.setImage(this.image);
      this.els.area.classList.add("has-image");
      this.els.area.setAttribute("aria-label", t("ref.areaLoaded"));
      this.clearSelection();
      this.ui.announce(t("ref.opened"));
    } catch (err) {
      this.ui.error(err, t("ref.openFailed"));
    }
  }

  clearSelection() {
    this.points = [];
    this.labels = [];
    this.hasMask = false;
    this.mask.clear();
    this.previewSeq += 1;
    const cut = this.els.cutout;
    cut.width = cut.height = 0;
    this.els.cutoutBox.hidden = true;
    this.setStatus(this.image ? t("ref.click") : t("reference.status"));
  }

  setStatus(text) {
    this.els.status.textContent = text;
  }

  click(event) {
    if (!this.image || (event.button !== 0 && event.button !== 2)) return;
    const rect = this.els.canvas.getBoundingClientRect();
    const x = ((event.clientX - rect.left) * this.els.canvas.width) / rect.width;
    const y = ((event.clientY - rect.top) * this.els.canvas.height) / rect.height;
    if (x < 0 || y < 0 || x >= this.els.canvas.width || y >= this.els.canvas.height) return;
    this.addPoint({ x, y }, event.altKey || event.button === 2 ? 0 : 1);
  }

  async addPoint(point, label) {
    this.points.push([Math.round(point.x), Math.round(point.y)]);
    this.labels.push(label);
    this.setStatus(t("ref.selecting"));
    try {
      const result = await this.smart.segment({ points: this.points.slice(), point_labels: this.labels.slice() });
      if (!result) return;
      this.mask.setValues(result.values);
      this.hasMask = !this.mask.isEmpty(result.values);
      this.setStatus(this.hasMask ? t("ref.selected", { count: this.points.length }) : t("ref.nothing"));
      if (this.hasMask) this.preview();
    } catch (err) {
      this.points.pop();
      this.labels.pop();
      this.setStatus(t("ref.selectFailed"));
      this.ui.error(err, t("ref.smartFailed"));
    }
  }

  selectWhole() {
    if (!this.image) {
      this.ui.error(new Error(t("ref.openFirst")));
      return;
    }
    const values = new Uint8ClampedArray(this.image.canvas.width * this.image.canvas.height).fill(255);
    this.points = [];
    this.labels = [];
    this.mask.setValues(values);
    this.hasMask = true;
    this.setStatus(t("ref.whole"));
    this.preview();
  }

  async preview() {
    const seq = ++this.previewSeq;
    this.els.cutoutBox.hidden = false;
    this.els.cutoutBox.setAttribute("aria-busy", "true");
    try {
      const { canvas } = await extractObject(this.api, await this.image.base64(), await this.mask.toBase64());
      if (seq !== this.previewSeq) return;
      const cut = this.els.cutout;
      cut.width = canvas.width;
      cut.height = canvas.height;
      cut.getContext("2d").drawImage(canvas, 0, 0);
    } catch (err) {
      if (seq === this.previewSeq) this.ui.error(err, t("ref.cutoutFailed"));
    } finally {
      if (seq === this.previewSeq) this.els.cutoutBox.removeAttribute("aria-busy");
    }
  }

  /** Fields of the generation request; throws when the reference is not ready. */
  async fields() {
    if (!this.image) throw new Error(t("ref.needed"));
    if (!this.hasMask) throw new Error(t("ref.selectFirst"));
    return {
      reference_image: await this.image.base64(),
      reference_mask_R: await this.mask.toBase64(),
    };
  }

  /** The selected object's mask as a black-and-white canvas (for tests and downloads). */
  maskCanvas() {
    return greyCanvas(this.mask.values(), this.mask.width, this.mask.height);
  }
}
