// Smart mask clicks against POST /api/smart-mask. The picture is uploaded with the first request
// only; later clicks send the `image_id` the service answered (and upload again if it forgot it).
// Clicks that arrive while a request runs are coalesced: one request with every point follows.

import { canvasFromBase64, canvasToBase64, greyValues } from "./imageio.js";

/** A picture the segmentation service may already know, by the id it gave it. */
export class SmartImage {
  /** @param {HTMLCanvasElement} canvas */
  constructor(canvas) {
    this.canvas = canvas;
    this.imageId = null;
    this.b64 = null;
  }

  base64() {
    if (!this.b64) this.b64 = canvasToBase64(this.canvas);
    return this.b64;
  }
}

function forgotImage(error) {
  if (!error || !error.status) return false;
  if (error.status === 404 || error.status === 410) return true;
  return (error.status === 400 || error.status === 422) && /image_id/i.test(error.message);
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
    if (!image) throw new Error("Open an image first.");
    const body = { ...prompts, request_id: newRequestId() };
    let answer;
    if (image.imageId) {
      try {
        answer = await this.api.post("/api/smart-mask", { ...body, image_id: image.imageId });
      } catch (err) {
        if (!forgotImage(err)) throw err;
        image.imageId = null;
      }
    }
    if (!answer) answer = await this.api.post("/api/smart-mask", { ...body, image: await image.base64() });
    if (answer.image_id) image.imageId = answer.image_id;
    if (!answer.mask_base64) throw new Error("The smart mask answer held no mask.");
    const maskCanvas = await canvasFromBase64(answer.mask_base64);
    return {
      values: greyValues(maskCanvas, image.canvas.width, image.canvas.height),
      score: answer.score,
      bbox: answer.bbox,
    };
  }
}
