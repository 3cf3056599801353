// The editor page: builds the parts (stage, mask editor, comparison, task form, reference panel,
// job runner, edit session, history, status) and connects them to the page's controls, the
// language switch and the shortcuts. The session (picture, edits, mask) is kept in IndexedDB.

import { ApiClient, ApiError } from "./api.js";
import { assetRef, fetchAsset, uploadAsset } from "./assets.js";
import { Compare } from "./compare.js";
import { Editor } from "./editor.js";
import { language, onLanguage, setLanguage, t, translatePage } from "./i18n.js";
import { canvasFromBlob, canvasToBlob, cloneCanvas, downloadBlob, imageFileFrom } from "./imageio.js";
import { MASK_OPS, maskOperation, whiteBalancePreview } from "./imageutils.js";
import { ReferencePanel } from "./reference.js";
import { Results } from "./results.js";
import { RunPanel } from "./runpanel.js";
import { EditSession, decodePicture, displayCopy } from "./session.js";
import { installShortcuts } from "./shortcuts.js";
import { Stage } from "./stage.js";
import { StatusIndicator } from "./status.js";
import { clearSession, loadSession, saveSession } from "./store.js";
import { TaskForm } from "./tasks.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(window.location.search);

translatePage();
$("lang-select").value = language();
$("lang-select").addEventListener("change", () => setLanguage($("lang-select").value));

// -- messages ----------------------------------------------------------------------------------

const ui = {
  error(err, context) {
    if (err instanceof ApiError && err.kind === "aborted") return;
    let message = err instanceof Error ? err.message : String(err);
    if (context) message = `${context}. ${message}`;
    $("error-text").textContent = message;
    $("error-banner").hidden = false;
  },
  clearError() {
    $("error-banner").hidden = true;
    $("error-text").textContent = "";
  },
  announce(text) {
    const el = $("announcer");
    el.textContent = "";
    // A fresh node each time makes screen readers repeat an identical message.
    requestAnimationFrame(() => { el.textContent = text; });
  },
};
$("error-dismiss").addEventListener("click", () => ui.clearError());
window.addEventListener("unhandledrejection", (event) => ui.error(event.reason, t("error.generic")));

// -- API key -------------------------------------------------------------------------------------

const api = new ApiClient();
const keyPanel = $("key-panel");
const keyInput = $("api-key");

function showKeyPanel(focus) {
  keyPanel.hidden = false;
  $("key-button").setAttribute("aria-expanded", "true");
  keyInput.value = api.apiKey;
  if (focus) keyInput.focus();
}

function hideKeyPanel() {
  keyPanel.hidden = true;
  $("key-button").setAttribute("aria-expanded", "false");
}

function showKeyProblem(text) {
  $("key-problem").textContent = text;
  $("key-problem").hidden = !text;
}

api.onUnauthorized = () => {
  // A key that was sent and refused says so; no key at all asks for one.
  showKeyProblem(api.apiKey ? t("key.refused") : t("key.needed"));
  if (keyPanel.hidden) showKeyPanel(false);
};
$("key-button").addEventListener("click", () => (keyPanel.hidden ? showKeyPanel(true) : hideKeyPanel()));
keyPanel.addEventListener("submit", (event) => {
  event.preventDefault();
  api.setApiKey(keyInput.value);
  showKeyProblem("");
  hideKeyPanel();
  ui.clearError();
  ui.announce(api.apiKey ? t("key.saved") : t("key.removed"));
  status.check();
  $("key-button").focus();
});
$("key-forget").addEventListener("click", () => {
  api.setApiKey("");
  keyInput.value = "";
  ui.announce(t("key.removed"));
  status.check();
});

// -- status, and the engines it reports --------------------------------------------------------

const status = new StatusIndicator(
  api,
  { button: $("status-button"), text: $("status-text"), list: $("status-list") },
  Number(params.get("status_interval")) || 5000,
);
const statusPanel = $("status-panel");
$("status-button").addEventListener("click", () => {
  statusPanel.hidden = !statusPanel.hidden;
  $("status-button").setAttribute("aria-expanded", String(!statusPanel.hidden));
});
document.addEventListener("click", (event) => {
  if (!statusPanel.hidden && !event.target.closest(".status")) {
    statusPanel.hidden = true;
    $("status-button").setAttribute("aria-expanded", "false");
  }
});

/** Offer exactly the engines the generation service says it serves (none known: its default). */
function offerEngines(health) {
  const generation = health && health.services ? health.services.generation : null;
  const served = generation && Array.isArray(generation.engines) ? generation.engines : [];
  const select = $("engine");
  const wanted = ["", ...served];
  const have = [...select.options].map((o) => o.value);
  if (wanted.join("\n") === have.join("\n")) return;
  const chosen = select.value;
  select.replaceChildren();
  for (const name of wanted) {
    const option = document.createElement("option");
    option.value = name;
    if (name) option.textContent = name;
    else {
      option.dataset.i18n = "engine.default";
      option.textContent = t("engine.default");
    }
    select.append(option);
  }
  select.value = wanted.includes(chosen) ? chosen : "";
  tasks.dropUnknownEngines(wanted);
}
status.onHealth = offerEngines;
status.onRefused = () => showKeyProblem(api.apiKey ? t("key.refused") : t("key.needed"));

// -- stage, editor, comparison -----------------------------------------------------------------

const stage = new Stage($("stage"), [$("edit-layer"), $("compare-layer")], $("overlay"));
const editor = new Editor({ stage, imageCanvas: $("image-canvas"), maskCanvas: $("mask-canvas"), api, ui });
const compare = new Compare({ layer: $("compare-layer"), before: $("before-canvas"), after: $("after-canvas"), slider: $("compare-slider") }, stage);
const session = new EditSession();
let view = "edit";

function setView(next) {
  if (next === "result" && !results.current) return;
  view = next;
  const editing = next === "edit";
  $("edit-layer").hidden = !editing || !editor.hasImage;
  $("compare-layer").hidden = editing;
  for (const el of document.querySelectorAll(".edit-only")) el.hidden = !editing;
  $("compare-controls").hidden = editing;
  $("view-edit").setAttribute("aria-pressed", String(editing));
  $("view-result").setAttribute("aria-pressed", String(!editing));
  document.body.dataset.view = next;
  const size = editing ? editor : $("after-canvas");
  if (size.width !== stage.viewport.width || size.height !== stage.viewport.height) stage.viewport.setContent(size.width, size.height);
  stage.setMode(editing ? editor : compare);
  syncEditorControls();
}
$("view-edit").addEventListener("click", () => setView("edit"));
$("view-result").addEventListener("click", () => setView("result"));

stage.onViewChange = (viewport) => {
  $("zoom-level").textContent = `${Math.round(viewport.scale * 100)}%`;
};
$("zoom-in").addEventListener("click", () => stage.viewport.zoomCentre(1.25));
$("zoom-out").addEventListener("click", () => stage.viewport.zoomCentre(0.8));
$("zoom-fit").addEventListener("click", () => stage.viewport.fit());
$("zoom-100").addEventListener("click", () => stage.viewport.actualSize());

const toolButtons = [...document.querySelectorAll("[data-tool]")];
for (const button of toolButtons) button.addEventListener("click", () => editor.setTool(button.dataset.tool));

const brushSize = $("brush-size");
brushSize.addEventListener("input", () => editor.setBrushSize(Number(brushSize.value)));
$("smart-border").addEventListener("change", () => {
  const value = Math.round(Number($("smart-border").value) || 0);
  editor.smartOptions.border_adjustment = Math.max(-50, Math.min(50, value));
});
$("smart-blur").addEventListener("change", () => {
  editor.smartOptions.use_blur = $("smart-blur").checked;
});
$("smart-new").addEventListener("click", () => {
  editor.endSession();
  ui.announce(t("smart.nextObject"));
});
$("undo").addEventListener("click", () => editor.undo());
$("redo").addEventListener("click", () => editor.redo());
$("mask-visible").addEventListener("change", () => {
  $("mask-canvas").style.visibility = $("mask-visible").checked ? "visible" : "hidden";
});

$("mask-colour").addEventListener("input", () => {
  const hex = $("mask-colour").value;
  editor.mask.setTint([1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)));
});

function syncEditorControls() {
  const editing = view === "edit";
  for (const button of toolButtons) button.setAttribute("aria-pressed", String(button.dataset.tool === editor.tool));
  const brushLike = editor.tool === "brush" || editor.tool === "eraser";
  document.querySelector(".brush-options").hidden = !editing || !brushLike;
  document.querySelector(".smart-options").hidden = !editing || editor.tool !== "smart";
  brushSize.max = String(Math.max(400, Math.round(Math.min(editor.width, editor.height) / 2)));
  brushSize.value = String(editor.brushSize);
  $("brush-size-out").textContent = `${editor.brushSize} px`;
  $("undo").disabled = !editor.history.canUndo;
  $("redo").disabled = !editor.history.canRedo;
  $("smart-busy").hidden = !editor.smart.busy;
  $("smart-new").disabled = !editor.session;
  $("stage").dataset.tool = editor.tool;
  $("stage").dataset.smartBusy = String(editor.smart.busy);
}
editor.onState = () => {
  syncEditorControls();
  scheduleSave();
};

// -- the session's pictures: uploaded once as assets ---------------------------------------------

const upload = { box: $("upload"), bar: $("upload-progress"), text: $("upload-text") };
let originalUpload = null;

function formatBytes(bytes) {
  if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  return `${Math.max(1, Math.round(bytes / 1024))} kB`;
}

function showUpload(sent, total) {
  const fraction = total > 0 ? Math.min(1, sent / total) : 0;
  upload.box.hidden = false;
  upload.bar.value = fraction;
  upload.text.textContent = t("upload.progress", { percent: Math.round(fraction * 100) });
  upload.bar.setAttribute("aria-valuetext", `${Math.round(fraction * 100)} %`);
}

/** Upload the original once (one upload in flight at a time); resolves to its asset id. */
function uploadOriginal() {
  if (originalUpload) return originalUpload;
  const original = session.original;
  const first = session.steps[0];
  if (!original || !first) return Promise.reject(new Error(t("job.needsPicture")));
  const started = (originalUpload = uploadAsset(api, original.blob, { onProgress: showUpload })
    .then((asset) => {
      if (session.original === original) first.assetId = asset.asset_id;
      ui.announce(t("upload.done", { size: formatBytes(original.blob.size) }));
      scheduleSave();
      return asset.asset_id;
    })
    .finally(() => {
      if (originalUpload === started) originalUpload = null;
      setTimeout(() => { if (!originalUpload) upload.box.hidden = true; }, 600);
    }));
  return started;
}

/** A step's asset as SmartImage wants it: ensure (its id, uploading if needed) and renew. */
function stepAsset(step) {
  return {
    ensure: async () => {
      if (step.assetId) return step.assetId;
      if (step.kind === "original") return uploadOriginal();
      // A result whose asset is gone: its display copy is what is left to upload.
      const asset = await uploadAsset(api, step.png || (step.png = await canvasToBlob(step.display)), { onProgress: showUpload });
      step.assetId = asset.asset_id;
      return step.assetId;
    },
    renew: async () => {
      step.assetId = null;
      return stepAsset(step).ensure();
    },
  };
}

function showStep(step, { resetMask = false } = {}) {
  const asset = stepAsset(step);
  const original = session.original;
  if (resetMask || !editor.hasImage) editor.loadImage(step.display, { asset, original });
  else editor.replaceImage(step.display, { asset });
  syncEdits();
}

const pictures = {
  async input() {
    const step = session.current;
    if (!step) throw new Error(t("job.needsPicture"));
    return assetRef(await stepAsset(step).ensure());
  },
  async renewInput() {
    return assetRef(await stepAsset(session.current).renew());
  },
  confirmRun() {
    const later = session.steps.length - 1 - session.index;
    return later <= 0 || window.confirm(t("confirm.branch", { count: later }));
  },
  async accept(result, { taskId, task }) {
    let blob;
    if (result.image_asset) blob = await fetchAsset(api, result.image_asset);
    else {
      const response = await api.fetch(`/api/generate/result-image/${encodeURIComponent(taskId)}`, { headers: { Accept: "image/png" }, timeout: 300000 });
      blob = await response.blob();
    }
    const first = session.steps[0].display;
    const full = await canvasFromBlob(blob);
    const display = full.width === first.width && full.height === first.height ? full : displayCopy(full);
    if (display !== full) full.width = full.height = 0; // let the full-size pixels go now
    session.push({ display, assetId: result.image_asset || null, task, taskId, seed: result.seed ?? null });
    showStep(session.current);
    results.showCurrent();
    // Back to the picture the job made, for keyboard and screen-reader users too.
    $("stage").focus({ preventScroll: true });
    $("stage").scrollIntoView({ block: "nearest" });
    ui.announce(t("result.focus", { number: session.index }));
  },
};

// -- edits: undo / redo across results, back to the original --------------------------------------

function syncEdits() {
  const active = session.active;
  $("edits").hidden = !active || session.steps.length < 2;
  $("edit-undo").disabled = !session.canUndo;
  $("edit-redo").disabled = !session.canRedo;
  $("edit-original").disabled = !session.canUndo;
  $("edit-position").textContent = session.index > 0
    ? t("edits.position", { index: session.index, count: session.edits })
    : t("edits.atOriginal");
  $("view-result").disabled = session.index < 1 && !results.preview;
}

function stepName(index) {
  return index === 0 ? t("edits.originalName") : t("edits.resultName", { number: index });
}

function moved(redo) {
  showStep(session.current);
  if (session.index > 0) results.showCurrent();
  else {
    results.render();
    setView("edit");
  }
  ui.announce(t(redo ? "edits.redone" : "edits.undone", { what: stepName(session.index) }));
  scheduleSave();
}
$("edit-undo").addEventListener("click", () => session.undo() && moved(false));
$("edit-redo").addEventListener("click", () => session.redo() && moved(true));
$("edit-original").addEventListener("click", () => session.toOriginal() && moved(false));

// -- opening pictures ------------------------------------------------------------------------------

/** Whether opening another picture may go ahead (asks when it would discard work). */
function mayDiscard() {
  if (!session.active) return true;
  if (session.edits > 0) return window.confirm(t("confirm.discard", { count: session.edits }));
  if (editor.hasImage && !editor.maskIsEmpty()) return window.confirm(t("confirm.discardMask"));
  return true;
}

async function openImage(blob) {
  if (!mayDiscard()) return;
  let picture;
  try {
    picture = await decodePicture(blob);
  } catch {
    ui.error(new Error(t("open.unreadable")), t("open.failed"));
    return;
  }
  const name = blob.name || `picture.${(blob.type || "image/png").split("/")[1] || "png"}`;
  session.start({ name, type: blob.type || "", blob, width: picture.width, height: picture.height }, picture.display);
  originalUpload = null;
  results.preview = null;
  showInput(session.current);
  ui.clearError();
  ui.announce(t("open.opened", { name, width: picture.width, height: picture.height }));
  scheduleSave();
  uploadOriginal().catch((err) => ui.error(err, t("upload.failed")));
}

function showInput(step) {
  showStep(step, { resetMask: true });
  $("stage-empty").hidden = true;
  $("stage").removeAttribute("aria-describedby");
  document.body.dataset.hasImage = "true";
  results.render();
  setView("edit");
  if (tasks.task === "white-balance") previewWhiteBalance();
}

$("file-input").addEventListener("change", () => {
  const input = $("file-input");
  if (input.files && input.files[0]) openImage(input.files[0]);
  input.value = "";
});

let dragDepth = 0;
window.addEventListener("dragenter", (event) => {
  if (![...(event.dataTransfer?.types || [])].includes("Files")) return;
  dragDepth += 1;
  $("drop-hint").hidden = false;
});
window.addEventListener("dragleave", () => {
  dragDepth = Math.max(0, dragDepth - 1);
  if (!dragDepth) $("drop-hint").hidden = true;
});
window.addEventListener("dragover", (event) => event.preventDefault());
window.addEventListener("drop", (event) => {
  event.preventDefault();
  dragDepth = 0;
  $("drop-hint").hidden = true;
  const file = imageFileFrom(event.dataTransfer);
  if (file) openImage(file);
  else ui.error(new Error(t("open.dropOnly")));
});
window.addEventListener("paste", (event) => {
  const file = imageFileFrom(event.clipboardData);
  if (!file) return;
  event.preventDefault();
  openImage(file);
});

// -- mask operations and files -------------------------------------------------------------------

let maskBusy = false;
for (const button of document.querySelectorAll("[data-mask-op]")) {
  button.addEventListener("click", async () => {
    const op = button.dataset.maskOp;
    if (!editor.hasImage || maskBusy) return;
    if (editor.maskIsEmpty() && op !== "invert") {
      ui.error(new Error(t("mask.empty")));
      return;
    }
    maskBusy = true;
    button.setAttribute("aria-busy", "true");
    const word = t(`mask.${op}`).toLowerCase();
    try {
      const amount = Number($("mask-amount").value) || 1;
      const values = await maskOperation(api, op, await editor.maskBase64(), amount, editor.width, editor.height);
      editor.applyMask(values, MASK_OPS[op].label.toLowerCase());
      ui.announce(t("mask.done", { op: word }));
    } catch (err) {
      ui.error(err, t("mask.failed", { op: word }));
    } finally {
      maskBusy = false;
      button.removeAttribute("aria-busy");
    }
  });
}
$("mask-clear").addEventListener("click", () => editor.clearMask());
$("mask-download").addEventListener("click", async () => {
  if (!editor.hasImage) return;
  downloadBlob(await canvasToBlob(editor.mask.toGreyCanvas()), "mask.png");
});
$("mask-upload").addEventListener("change", async () => {
  const input = $("mask-upload");
  const file = input.files && input.files[0];
  input.value = "";
  if (!file) return;
  if (!editor.hasImage) {
    ui.error(new Error(t("mask.uploadFirst")));
    return;
  }
  try {
    const canvas = await canvasFromBlob(file);
    editor.mask.setFromImage(canvas);
    editor.applyMask(editor.maskValues(), "upload");
    ui.announce(t("mask.uploaded"));
  } catch (err) {
    ui.error(err, t("mask.uploadFailed"));
  }
});

// -- tasks, reference, white-balance preview ------------------------------------------------------

const tasks = new TaskForm({
  taskRadios: [...document.querySelectorAll('input[name="task"]')],
  prompt: $("prompt"),
  negative: $("negative-prompt"),
  steps: $("steps"),
  guidance: $("guidance"),
  seed: $("seed"),
  seedRandom: $("seed-random"),
  quality: $("input-quality"),
  engine: $("engine"),
  reset: $("reset-defaults"),
});
const reference = new ReferencePanel(
  api,
  {
    file: $("ref-file"),
    area: $("ref-area"),
    canvas: $("ref-canvas"),
    mask: $("ref-mask"),
    wholeButton: $("ref-whole"),
    clearButton: $("ref-clear"),
    status: $("ref-status"),
    cutout: $("ref-cutout"),
    cutoutBox: $("ref-cutout-box"),
  },
  ui,
);
tasks.onTask = (task) => {
  $("reference").hidden = task !== "insertion";
  $("task-hint").textContent = t(`hint.${task}`);
  document.body.dataset.task = task;
  if (task === "white-balance" && editor.hasImage) previewWhiteBalance();
};
document.body.dataset.task = tasks.task;

let previewController = null;
async function previewWhiteBalance() {
  if (previewController) previewController.abort();
  const controller = (previewController = new AbortController());
  try {
    const source = cloneCanvas(editor.imageCanvas);
    const preview = await whiteBalancePreview(api, source, controller.signal);
    if (controller.signal.aborted || tasks.task !== "white-balance") return;
    results.showPreview(source, preview);
    setView("result");
    ui.announce(t("wb.ready"));
  } catch (err) {
    if (!controller.signal.aborted) ui.error(err, t("wb.failed"));
  } finally {
    if (previewController === controller) previewController = null;
  }
}

// -- results -----------------------------------------------------------------------------------------

const results = new Results(
  api,
  {
    list: $("history-list"),
    empty: $("history-empty"),
    caption: $("result-caption"),
    downloadPng: $("download-png"),
    downloadWebp: $("download-webp"),
    downloadJpeg: $("download-jpeg"),
    useAsInput: $("use-as-input"),
  },
  compare,
  session,
  ui,
);
results.onShow = () => {
  syncEdits();
  $("view-result").disabled = false;
  setView("result");
};
results.onMove = () => {
  showStep(session.current);
  scheduleSave();
};
results.onUseAsInput = (entry) => {
  if (entry.preview) return;
  if (session.index !== entry.index) session.moveTo(entry.index);
  showStep(session.current, { resetMask: true });
  setView("edit");
  ui.announce(t("result.focus", { number: entry.number }));
  scheduleSave();
};

// -- running a job ---------------------------------------------------------------------------------

const runPanel = new RunPanel({
  api,
  editor,
  tasks,
  reference,
  results,
  ui,
  pictures,
  els: {
    form: $("task-form"),
    run: $("run"),
    cancel: $("cancel"),
    advanced: $("advanced"),
    box: $("progress"),
    status: $("job-status"),
    bar: $("job-progress"),
    steps: $("job-steps"),
    eta: $("job-eta"),
  },
});

// -- keeping the session across a reload --------------------------------------------------------------

let saveTimer = 0;
let restoring = false;

function scheduleSave() {
  if (restoring || !session.active) return;
  clearTimeout(saveTimer);
  saveTimer = setTimeout(saveNow, 400);
}

// One save at a time, in order: a slow older save must not land after a newer one.
let saving = Promise.resolve();
function saveNow() {
  saving = saving.then(writeSession);
  return saving;
}

async function writeSession() {
  if (!session.active) return;
  try {
    const mask = editor.hasImage ? await canvasToBlob(editor.mask.toGreyCanvas()) : null;
    const record = await session.toRecord({ mask, task: tasks.task });
    const state = `${record.steps.length}:${record.index}:${editor.history.index}`;
    await saveSession(record);
    document.body.dataset.saved = String(record.savedAt);
    // What the saved record holds (steps:position:mask edits), for the tests to wait on.
    document.body.dataset.savedState = state;
  } catch (err) {
    // Private mode or a full disk: the session still works, it just will not survive a reload.
    console.warn("the session could not be saved", err);
  }
}

async function restore() {
  let record = null;
  try {
    record = await loadSession();
  } catch {
    return;
  }
  if (!record || !record.original || !record.steps || !record.steps.length) return;
  restoring = true;
  try {
    await session.fromRecord(record);
    showInput(session.current);
    if (record.mask) {
      editor.mask.setFromImage(await canvasFromBlob(record.mask));
      editor.history.reset(editor.mask.values());
      editor.changed();
    }
    if (record.task) tasks.select(record.task);
    results.render();
    if (session.index > 0) results.showCurrent();
    syncEdits();
    ui.announce(t("restore.done"));
  } catch (err) {
    console.warn("the saved session could not be restored", err);
    session.clear();
    await clearSession().catch(() => {});
  } finally {
    restoring = false;
  }
}

// -- keyboard ------------------------------------------------------------------------------------

function closeStatusPanel() {
  if (statusPanel.hidden) return false;
  statusPanel.hidden = true;
  $("status-button").setAttribute("aria-expanded", "false");
  $("status-button").focus();
  return true;
}

installShortcuts({ editor, stage, compare, view: () => view, closePopover: closeStatusPanel });

// -- language: text written by code is written again ------------------------------------------------

onLanguage(() => {
  tasks.onTask(tasks.task);
  status.rerender();
  syncEdits();
  results.render();
  const entry = results.current;
  if (entry && view === "result") results.select(entry);
  if (!upload.box.hidden) upload.text.textContent = t("upload.label");
  runPanel.progress.rerender();
});

tasks.onTask(tasks.task);
setView("edit");
status.start();
restore().finally(() => {
  document.body.dataset.ready = "true";
});

/** Hooks for automated checks of the page (read-only views of its state). */
window.retouch = { editor, results, runner: runPanel.runner, status, tasks, reference, session, setView, get view() { return view; } };
