// Results of the session: the edits on the stack, newest first, each with the picture it was made
// from, shown in the before/after comparison; choosing one makes it the current picture (the next
// Run applies to it). Downloads are full size, from the gateway (PNG, WebP or JPEG), named after
// the original file.

import { canvasToBlob, downloadBlob, makeCanvas } from "./imageio.js";
import { t } from "./i18n.js";

const THUMB = 72;

function thumbnail(canvas) {
  const scale = Math.min(1, THUMB / Math.max(canvas.width, canvas.height));
  const thumb = makeCanvas(Math.max(1, Math.round(canvas.width * scale)), Math.max(1, Math.round(canvas.height * scale)));
  thumb.getContext("2d").drawImage(canvas, 0, 0, thumb.width, thumb.height);
  return thumb.toDataURL("image/png");
}

const EXTENSIONS = { png: "png", webp: "webp", jpeg: "jpg" };

/** "photo-retouched-2.jpg" from "photo.jpeg", edit 2 and the format. */
export function downloadName(original, number, format) {
  const base = (original || "picture").replace(/\.[A-Za-z0-9]{1,5}$/, "") || "picture";
  return `${base}-retouched${number > 1 ? `-${number}` : ""}.${EXTENSIONS[format] || format}`;
}

export class Results {
  /**
   * @param {import("./api.js").ApiClient} api
   * @param {Record<string, HTMLElement>} els
   * @param {import("./compare.js").Compare} compare
   * @param {import("./session.js").EditSession} session
   * @param {{error: (e: unknown, context?: string) => void, announce: (text: string) => void}} ui
   */
  constructor(api, els, compare, session, ui) {
    this.api = api;
    this.els = els;
    this.compare = compare;
    this.session = session;
    this.ui = ui;
    /** The preview shown instead of a stack entry (white balance), or null. */
    this.preview = null;
    /** Called with an entry whose result should become the editor's input. */
    this.onUseAsInput = null;
    /** Called when the comparison should be shown. */
    this.onShow = null;
    /** Called when choosing an entry moved the session. */
    this.onMove = null;
    els.downloadPng.addEventListener("click", () => this.download("png"));
    els.downloadWebp.addEventListener("click", () => this.download("webp"));
    els.downloadJpeg.addEventListener("click", () => this.download("jpeg"));
    els.useAsInput.addEventListener("click", () => this.current && this.onUseAsInput?.(this.current));
  }

  /** The stack's edits as entries: newest first. */
  get entries() {
    const out = [];
    for (let i = this.session.steps.length - 1; i >= 1; i--) out.push(this.entry(i));
    return out;
  }

  entry(index) {
    const step = this.session.steps[index];
    const before = this.session.steps[index - 1];
    if (!step || !before) return null;
    return { index, number: index, task: step.task, taskId: step.taskId, seed: step.seed, before: before.display, after: step.display, step };
  }

  /** The entry shown: the preview, or the current step when it is an edit. */
  get current() {
    if (this.preview) return this.preview;
    return this.session.index >= 1 ? this.entry(this.session.index) : null;
  }

  /** Show a white-balance preview (not an edit of the stack). */
  showPreview(before, after) {
    this.preview = { preview: true, task: "white-balance", before, after, number: 0 };
    this.select(this.preview);
  }

  /** Show the current step's comparison (after a Run, an undo, a restore). */
  showCurrent() {
    this.preview = null;
    this.render();
    const entry = this.current;
    if (entry) this.select(entry);
  }

  select(entry) {
    if (!entry) return;
    if (!entry.preview) {
      this.preview = null;
      if (this.session.index !== entry.index) {
        this.session.moveTo(entry.index);
        this.onMove?.(entry);
      }
    }
    this.compare.show(entry.before, entry.after);
    const label = entry.preview ? t("result.preview") : t("result.caption", { number: entry.number, task: t(`task.${entry.task}`) });
    this.els.caption.textContent = label + (entry.seed !== null && entry.seed !== undefined ? t("result.seed", { seed: entry.seed }) : "");
    for (const button of [this.els.useAsInput, this.els.downloadPng, this.els.downloadWebp, this.els.downloadJpeg]) button.disabled = false;
    this.render();
    if (this.onShow) this.onShow(entry);
  }

  render() {
    const list = this.els.list;
    list.replaceChildren();
    const entries = this.entries;
    this.els.empty.hidden = entries.length > 0;
    const shown = this.current;
    for (const entry of entries) {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "history-item";
      button.dataset.number = String(entry.number);
      button.setAttribute("aria-pressed", String(Boolean(shown && !shown.preview && shown.index === entry.index)));
      const img = document.createElement("img");
      img.src = entry.step.thumb || (entry.step.thumb = thumbnail(entry.after));
      img.alt = "";
      const text = document.createElement("span");
      const task = t(`task.${entry.task}`);
      text.textContent = t("history.item", { number: entry.number, task });
      button.append(img, text);
      button.setAttribute("aria-label", t("history.show", { number: entry.number, task }));
      button.addEventListener("click", () => this.select(this.entry(entry.index)));
      item.append(button);
      if (entry.index > this.session.index) item.dataset.undone = "true";
      list.append(item);
    }
  }

  async download(format) {
    const entry = this.current;
    if (!entry) return;
    const name = downloadName(this.session.original?.name, entry.number || 1, format);
    try {
      let blob;
      if (entry.taskId) {
        // Full size, converted by the jobs service.
        const response = await this.api.fetch(`/api/generate/result-image/${encodeURIComponent(entry.taskId)}?format=${format}`, {
          headers: { Accept: `image/${format}` },
          timeout: 300000,
        });
        blob = await response.blob();
      } else {
        blob = await canvasToBlob(entry.after, `image/${format}`, 0.95);
      }
      downloadBlob(blob, name);
      this.ui.announce(t("download.started", { name }));
    } catch (err) {
      this.ui.error(err, t("download.failed", { format: format.toUpperCase() }));
    }
  }
}
