// Pictures as assets (POST /api/assets): the original is uploaded once, with upload progress
// (XMLHttpRequest: fetch reports none), and every later call names it as "asset:<id>"; results are
// assets too and are downloaded from GET /api/assets/{id}.

import { ApiError, describeProblem } from "./api.js";
import { t } from "./i18n.js";

/**
 * Upload a picture; resolves to the asset answer {asset_id, width, height, format, bytes}.
 * @param {import("./api.js").ApiClient} api
 * @param {Blob} blob
 * @param {{onProgress?: (sent: number, total: number) => void, signal?: AbortSignal}} opts
 */
export function uploadAsset(api, blob, { onProgress, signal } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", api.url("/api/assets"));
    const headers = api.headers({ "Content-Type": blob.type && blob.type.startsWith("image/") ? blob.type : "application/octet-stream" });
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
    xhr.responseType = "text";
    xhr.upload.onprogress = (event) => onProgress?.(event.loaded, event.lengthComputable ? event.total : blob.size);
    xhr.onload = () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText || "null");
      } catch {
        body = xhr.responseText;
      }
      if (xhr.status >= 200 && xhr.status < 300 && body && body.asset_id) {
        onProgress?.(blob.size, blob.size);
        resolve(body);
        return;
      }
      const error = new ApiError(describeProblem(xhr.status, body), { status: xhr.status, problem: body });
      if (xhr.status === 401 && api.onUnauthorized) api.onUnauthorized(error);
      reject(error);
    };
    xhr.onerror = () => reject(new ApiError(t("error.network"), { kind: "network" }));
    xhr.onabort = () => reject(new ApiError(t("error.stopped"), { kind: "aborted" }));
    if (signal) {
      if (signal.aborted) {
        reject(new ApiError(t("error.stopped"), { kind: "aborted" }));
        return;
      }
      signal.addEventListener("abort", () => xhr.abort(), { once: true });
    }
    xhr.send(blob);
  });
}

/** The bytes of an asset, as a Blob. */
export async function fetchAsset(api, assetId, { signal } = {}) {
  const response = await api.fetch(`/api/assets/${encodeURIComponent(assetId)}`, { headers: { Accept: "image/*" }, timeout: 300000, signal });
  return response.blob();
}

/** "asset:<id>": how an image field names an asset. */
export function assetRef(assetId) {
  return `asset:${assetId}`;
}
