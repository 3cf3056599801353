// Calls to the image-utils service through the gateway (POST /api/image-utils/<op>): mask
// operations, the object cut-out of the reference panel, and the instant white-balance preview.
import { t } from "./i18n.js";

import { canvasFromBase64, canvasToBase64, greyValues } from "./imageio.js";

/** Operations of the mask panel and the parameter each one takes. */
export const MASK_OPS = {
  grow: { label: "Grow", amount: true },
  shrink: { label: "Shrink", amount: true },
  feather: { label: "Feather", amount: true },
  invert: { label: "Invert", amount: false },
};

function firstImage(answer, ...names) {
  for (const name of names) if (typeof answer[name] === "string" && answer[name]) return answer[name];
  throw new Error(t("error.noImage"));
}

/**
 * Grow, shrink, feather or invert a mask.
 * @param {import("./api.js").ApiClient} api
 * @param {string} op one of MASK_OPS
 * @param {string} maskB64 the mask PNG
 * @param {number} amount pixels to move the edge by (grow/shrink) or the width of the soft ramp (feather)
 * @param {number} width
 * @param {number} height
 * @returns {Promise<Uint8ClampedArray>} the new mask values
 */
export async function maskOperation(api, op, maskB64, amount, width, height) {
  const body = { mask: maskB64, operation: op };
  if (MASK_OPS[op].amount) body.amount = Math.max(0, Math.min(4096, amount));
  const answer = await api.post(`/api/image-utils/mask`, body);
  const canvas = await canvasFromBase64(firstImage(answer, "mask"));
  return greyValues(canvas, width, height);
}

/**
 * The object of a picture cut out by its mask: a transparent PNG canvas and its box.
 * @returns {Promise<{canvas: HTMLCanvasElement, bbox: number[] | null}>}
 */
export async function extractObject(api, imageB64, maskB64) {
  const answer = await api.post(`/api/image-utils/extract-object`, { image: imageB64, mask: maskB64 });
  const canvas = await canvasFromBase64(firstImage(answer, "extracted_image"));
  return { canvas, bbox: answer.bbox || null };
}

/** The classic white-balance estimate of a picture, as a canvas (instant: a preview, not a job). */
export async function whiteBalancePreview(api, canvas, signal) {
  const answer = await api.post(`/api/image-utils/white-balance`, { image: await canvasToBase64(canvas) }, { signal });
  return canvasFromBase64(firstImage(answer, "image"));
}
