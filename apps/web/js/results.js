// Results of this session: each finished job with the picture it started from, shown in the
// before/after comparison, listed as history (restore one, or make it the next input), and
// downloadable as PNG or WebP from the gateway's result-image route.

import { canvasToBlob, cloneCanvas, downloadBlob, makeCanvas } from "./imageio.js";

const THUMB = 72;

function thumbnail(canvas) {
  const scale = Math.min(1, THUMB / Math.max(canvas.width, canvas.height));
  const thumb = makeCanvas(Math.max(1, Math.round(canvas.width * scale)), Math.max(1, Math.round(canvas.height * scale)));
  thumb.getContext("2d").drawImage(canvas, 0, 0, thumb.width, thumb.height);
  return thumb.toDataURL("image/png");
}

const TASK_LABEL = { removal: "Removal", insertion: "Insertion", "white-balance": "White balance" };

export class Results {
  /**
   * @param {import("./api.js").ApiClient} api
   * @param {Record<string, HTMLElement>} els
   * @param {import("./compare.js").Compare} compare
   * @param {{error: (e: unknown, context?: string) => void, announce: (text: string) => void}} ui
   */
  constructor(api, els, compare, ui) {
    this.api = api;
    this.els = els;
    this.compare = compare;
    this.ui = ui;
    this.entries = [];
    this.current = null;
    /** Called with an entry whose result should become the editor's input. */
    this.onUseAsInput = null;
    /** Called when the comparison should be shown. */
    this.onShow = null;
    els.downloadPng.addEventListener("click", () => this.download("png"));
    els.downloadWebp.addEventListener("click", () => this.download("webp"));
    els.useAsInput.addEventListener("click", () => this.current && this.onUseAsInput?.(this.current));
  }

  /**
   * Record a finished job and show it.
   * @param {{taskId: string | null, task: string, before: HTMLCanvasElement, after: HTMLCanvasElement, seed?: number | null, preview?: boolean}} item
   */
  add(item) {
    const entry = {
      ...item,
      before: cloneCanvas(item.before),
      after: cloneCanvas(item.after),
      time: new Date(),
      number: this.entries.length + 1,
    };
    if (!entry.preview) {
      this.entries.unshift(entry);
      this.render();
    }
    this.select(entry);
    return entry;
  }

  select(entry) {
    this.current = entry;
    this.compare.show(entry.before, entry.after);
    const label = entry.preview ? "Classic white-balance preview" : `Result ${entry.number}: ${TASK_LABEL[entry.task] || entry.task}`;
    this.els.caption.textContent = label + (entry.seed !== null && entry.seed !== undefined ? `, seed ${entry.seed}` : "");
    this.els.useAsInput.disabled = false;
    this.els.downloadPng.disabled = false;
    this.els.downloadWebp.disabled = false;
    for (const button of this.els.list.querySelectorAll("button.history-item")) {
      button.setAttribute("aria-pressed", String(button.dataset.number === String(entry.number) && !entry.preview));
    }
    if (this.onShow) this.onShow(entry);
  }

  render() {
    const list = this.els.list;
    list.replaceChildren();
    this.els.empty.hidden = this.entries.length > 0;
    for (const entry of this.entries) {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "history-item";
      button.dataset.number = String(entry.number);
      button.setAttribute("aria-pressed", String(entry === this.current));
      const img = document.createElement("img");
      img.src = thumbnail(entry.after);
      img.alt = "";
      const text = document.createElement("span");
      const time = entry.time.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
      text.textContent = `${entry.number}. ${TASK_LABEL[entry.task] || entry.task} · ${time}`;
      button.append(img, text);
      button.setAttribute("aria-label", `Show result ${entry.number}, ${TASK_LABEL[entry.task] || entry.task}, made at ${time}`);
      button.addEventListener("click", () => this.select(entry));
      item.append(button);
      list.append(item);
    }
  }

  async download(format) {
    const entry = this.current;
    if (!entry) return;
    const name = `retouch-${entry.taskId || "preview"}.${format}`;
    try {
      let blob;
      if (entry.taskId) {
        const response = await this.api.fetch(`/api/generate/result-image/${encodeURIComponent(entry.taskId)}?format=${format}`, {
          headers: { Accept: `image/${format}` },
          timeout: 120000,
        });
        blob = await response.blob();
      } else {
        blob = await canvasToBlob(entry.after, `image/${format}`, 0.95);
      }
      downloadBlob(blob, name);
      this.ui.announce(`Downloading ${name}.`);
    } catch (err) {
      this.ui.error(err, `Could not download the ${format.toUpperCase()}`);
    }
  }
}
