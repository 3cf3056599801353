// Smart mask clicks against POST /api/smart-mask. A picture that is an asset (the editor's: its
// original was uploaded once) is named by its id, which is smart-mask's image_id, and the clicks
// are scaled from the display copy to the original's pixels. Other pictures (a reference) travel
// with the first request only; later clicks send the `image_id` the service answered. A 404 for
// an image_id means the service forgot the picture: it is sent (or uploaded) again. Clicks that
// arrive while a request runs are coalesced: one request with every point follows.

import { t } from "./i18n.js";
import { canvasFromBase64, canvasToBase64, greyValues } from "./imageio.js";

/** A picture the segmentation service may already know, by the id it gave it. */
export class SmartImage {
  /** @param {HTMLCanvasElement} canvas */
  /**
   * @param {HTMLCanvasElement} canvas the picture as shown
   * @param {{ensure: () => Promise<string>, renew: () => Promise<string>} | null} asset the
   *   picture's asset (ensure: its id, uploading it if needed; renew: upload it again), or null
   * @param {number} scale the asset's pixels per pixel of `canvas`
   */
  constructor(canvas, asset = null, scale = 1) {
    this.canvas = canvas;
    this.asset = asset;
    this.scale = scale;
    this.imageId = null;
    this.b64 = null;
  }

  base64() {
    if (!this.b64) this.b64 = canvasToBase64(this.canvas);
    return this.b64;
  }
}

/** The service's answer for an image_id it does not know (or no longer has): 404. */
function forgotImage(error) {
  return Boolean(error && error.status === 404);
}

function scaled(prompts, scale) {
  if (scale === 1) return prompts;
  const out = { ...prompts };
  if (prompts.points) out.points = prompts.points.map(([x, y]) => [x * scale, y * scale]);
  if (prompts.bbox) out.bbox = prompts.bbox.map((v) => v * scale);
  return out;
}

function newRequestId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return `sm-${Date.now()}-${Math.random().toString(16).slice(2)}`;
}

export class SmartMasker {
  /** @param {import("./api.js").ApiClient} api */
  constructor(api) {
    this.api = api;
    this.image = null;
    this.busy = false;
    this.pending = null;
    /** Called with (busy: boolean) when a request starts or the queue drains. */
    this.onBusy = null;
  }

  setImage(image) {
    this.image = image;
    this.pending = null;
  }

  /**
   * Segment with these prompts. Resolves to the mask values of the newest prompts, or null when
   * a newer call superseded this one (its caller will get the answer instead).
   * @param {{points?: number[][], point_labels?: number[], bbox?: number[], border_adjustment?: number, use_blur?: boolean}} prompts
   */
  segment(prompts) {
    return new Promise((resolve, reject) => {
      if (this.pending) this.pending.resolve(null);
      this.pending = { prompts, resolve, reject };
      if (!this.busy) this.drain();
    });
  }

  async drain() {
    this.busy = true;
    if (this.onBusy) this.onBusy(true);
    while (this.pending) {
      const job = this.pending;
      this.pending = null;
      try {
        job.resolve(await this.send(job.prompts));
      } catch (err) {
        job.reject(err);
      }
    }
    this.busy = false;
    if (this.onBusy) this.onBusy(false);
  }

  async send(prompts) {
    const image = this.image;
    if (!image) throw new Error(t("job.needsPicture"));
    const body = { ...scaled(prompts, image.scale), request_id: newRequestId() };
    let answer;
    if (image.asset) {
      const id = await image.asset.ensure();
      try {
        answer = await this.api.post("/api/smart-mask", { ...body, image_id: id });
      } catch (err) {
        if (!forgotImage(err)) throw err;
        answer = await this.api.post("/api/smart-mask", { ...body, image_id: await image.asset.renew() });
      }
    } else if (image.imageId) {
      try {
        answer = await this.api.post("/api/smart-mask", { ...body, image_id: image.imageId });
      } catch (err) {
        if (!forgotImage(err)) throw err;
        image.imageId = null;
      }
    }
    if (!answer) answer = await this.api.post("/api/smart-mask", { ...body, image: await image.base64() });
    if (answer.image_id) image.imageId = answer.image_id;
    if (!answer.mask_base64) throw new Error(t("smart.noMask"));
    const maskCanvas = await canvasFromBase64(answer.mask_base64);
    return {
      values: greyValues(maskCanvas, image.canvas.width, image.canvas.height),
      score: answer.score,
      bbox: answer.bbox,
    };
  }
}
