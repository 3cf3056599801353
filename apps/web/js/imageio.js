// Pixels in and out: files to canvases (EXIF orientation applied), canvases to base64 PNG for the
// API, base64 answers back to canvases, and the grey-mask <-> alpha conversions the mask layer uses.

import { t } from "./i18n.js";

const EXACT = { colorSpaceConversion: "none", premultiplyAlpha: "none" };

/** A canvas of the given size (an OffscreenCanvas is not enough: toBlob and drawing into the DOM). */
export function makeCanvas(width, height) {
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  return canvas;
}

/** 2D context that is read back often (masks): hint the browser to keep it on the CPU. */
export function context2d(canvas) {
  return canvas.getContext("2d", { willReadFrequently: true });
}

/**
 * Decode an image file, respecting its EXIF orientation, into a canvas of its displayed size.
 * @param {Blob} blob
 * @returns {Promise<HTMLCanvasElement>}
 */
export async function canvasFromBlob(blob) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob, { imageOrientation: "from-image", ...EXACT });
  } catch {
    throw new Error(t("open.unreadable"));
  }
  const canvas = makeCanvas(bitmap.width, bitmap.height);
  canvas.getContext("2d").drawImage(bitmap, 0, 0);
  bitmap.close();
  return canvas;
}

/** Copy of a canvas (history entries must not change when the editor draws on). */
export function cloneCanvas(source) {
  const canvas = makeCanvas(source.width, source.height);
  canvas.getContext("2d").drawImage(source, 0, 0);
  return canvas;
}

/** @returns {Promise<Blob>} */
export function canvasToBlob(canvas, type = "image/png", quality) {
  return new Promise((resolve, reject) => {
    canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error(t("error.encode")))), type, quality);
  });
}

/** Base64 (no data: prefix) of a blob. */
export async function blobToBase64(blob) {
  const buffer = new Uint8Array(await blob.arrayBuffer());
  let binary = "";
  const chunk = 0x8000;
  for (let i = 0; i < buffer.length; i += chunk) {
    binary += String.fromCharCode.apply(null, buffer.subarray(i, i + chunk));
  }
  return btoa(binary);
}

export async function canvasToBase64(canvas, type = "image/png") {
  return blobToBase64(await canvasToBlob(canvas, type));
}

/** Bytes of a base64 string (a data: prefix is allowed). */
export function base64ToBlob(b64, type = "image/png") {
  const data = b64.includes(",") && b64.startsWith("data:") ? b64.slice(b64.indexOf(",") + 1) : b64;
  const binary = atob(data);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return new Blob([bytes], { type });
}

/** Decode a base64 image answer into a canvas, pixel-exact (no colour management). */
export async function canvasFromBase64(b64) {
  const blob = base64ToBlob(b64);
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob, EXACT);
  } catch {
    throw new Error(t("error.decode"));
  }
  const canvas = makeCanvas(bitmap.width, bitmap.height);
  canvas.getContext("2d").drawImage(bitmap, 0, 0);
  bitmap.close();
  return canvas;
}

/**
 * Grey values (0..255, one per pixel) of an image, scaled to width x height. Transparent pixels
 * count as black, so a cut-out PNG works as a mask too.
 */
export function greyValues(source, width, height) {
  const canvas = makeCanvas(width, height);
  const ctx = context2d(canvas);
  ctx.imageSmoothingEnabled = source.width !== width || source.height !== height;
  ctx.drawImage(source, 0, 0, width, height);
  const { data } = ctx.getImageData(0, 0, width, height);
  const out = new Uint8ClampedArray(width * height);
  for (let i = 0, p = 0; p < out.length; i += 4, p++) {
    const grey = (data[i] * 299 + data[i + 1] * 587 + data[i + 2] * 114) / 1000;
    out[p] = (grey * data[i + 3]) / 255;
  }
  return out;
}

/** A black-and-white canvas (white = value) of one grey value per pixel. */
export function greyCanvas(values, width, height) {
  const canvas = makeCanvas(width, height);
  const ctx = context2d(canvas);
  const image = ctx.createImageData(width, height);
  const { data } = image;
  for (let p = 0, i = 0; p < values.length; p++, i += 4) {
    data[i] = data[i + 1] = data[i + 2] = values[p];
    data[i + 3] = 255;
  }
  ctx.putImageData(image, 0, 0);
  return canvas;
}

/** Trigger a download of a blob under a file name. */
export function downloadBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  link.rel = "noopener";
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/** The first image file of a DataTransfer (drop or paste), or null. */
export function imageFileFrom(transfer) {
  if (!transfer) return null;
  for (const file of transfer.files || []) {
    if (file.type.startsWith("image/")) return file;
  }
  for (const item of transfer.items || []) {
    if (item.kind === "file" && item.type.startsWith("image/")) return item.getAsFile();
  }
  return null;
}
