// The editor page: builds the parts (stage, mask editor, comparison, task form, reference panel,
// job runner, history, status) and connects them to the page's controls and shortcuts.

import { ApiClient, ApiError } from "./api.js";
import { Compare } from "./compare.js";
import { Editor } from "./editor.js";
import { canvasFromBlob, canvasToBlob, cloneCanvas, downloadBlob, imageFileFrom } from "./imageio.js";
import { MASK_OPS, maskOperation, whiteBalancePreview } from "./imageutils.js";
import { ReferencePanel } from "./reference.js";
import { Results } from "./results.js";
import { RunPanel } from "./runpanel.js";
import { installShortcuts } from "./shortcuts.js";
import { Stage } from "./stage.js";
import { StatusIndicator } from "./status.js";
import { TaskForm } from "./tasks.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(window.location.search);

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
window.addEventListener("unhandledrejection", (event) => ui.error(event.reason, "Something went wrong"));

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

api.onUnauthorized = () => {
  if (keyPanel.hidden) showKeyPanel(false);
};
$("key-button").addEventListener("click", () => (keyPanel.hidden ? showKeyPanel(true) : hideKeyPanel()));
keyPanel.addEventListener("submit", (event) => {
  event.preventDefault();
  api.setApiKey(keyInput.value);
  hideKeyPanel();
  ui.clearError();
  ui.announce(api.apiKey ? "API key saved." : "API key removed.");
  status.check();
  $("key-button").focus();
});
$("key-forget").addEventListener("click", () => {
  api.setApiKey("");
  keyInput.value = "";
  ui.announce("API key removed.");
  status.check();
});

// -- status --------------------------------------------------------------------------------------

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
status.start();

// -- stage, editor, comparison -----------------------------------------------------------------

const stage = new Stage($("stage"), [$("edit-layer"), $("compare-layer")], $("overlay"));
const editor = new Editor({ stage, imageCanvas: $("image-canvas"), maskCanvas: $("mask-canvas"), api, ui });
const compare = new Compare({ layer: $("compare-layer"), before: $("before-canvas"), after: $("after-canvas"), slider: $("compare-slider") }, stage);
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
  ui.announce("The next click starts a new object.");
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
editor.onState = syncEditorControls;

// -- opening pictures ------------------------------------------------------------------------------

async function openImage(blob) {
  try {
    const canvas = await canvasFromBlob(blob);
    showInput(canvas);
    ui.clearError();
    ui.announce(`Opened a picture of ${canvas.width} by ${canvas.height} pixels.`);
  } catch (err) {
    ui.error(err, "Could not open the picture");
  }
}

function showInput(canvas) {
  editor.loadImage(canvas);
  $("stage-empty").hidden = true;
  $("stage").removeAttribute("aria-describedby");
  document.body.dataset.hasImage = "true";
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
  else ui.error(new Error("Drop an image file (PNG, JPEG or WebP)."));
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
      ui.error(new Error("The mask is empty: paint or click something first."));
      return;
    }
    maskBusy = true;
    button.setAttribute("aria-busy", "true");
    try {
      const amount = Number($("mask-amount").value) || 1;
      const values = await maskOperation(api, op, await editor.maskBase64(), amount, editor.width, editor.height);
      editor.applyMask(values, MASK_OPS[op].label.toLowerCase());
      ui.announce(`Mask: ${MASK_OPS[op].label.toLowerCase()} done.`);
    } catch (err) {
      ui.error(err, `Could not ${op} the mask`);
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
    ui.error(new Error("Open a picture before uploading its mask."));
    return;
  }
  try {
    const canvas = await canvasFromBlob(file);
    editor.mask.setFromImage(canvas);
    editor.applyMask(editor.maskValues(), "upload");
    ui.announce("Mask uploaded.");
  } catch (err) {
    ui.error(err, "Could not use that mask");
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
const HINTS = {
  removal: "Paint or click the object to remove, then Run.",
  insertion: "Mark where the object goes, pick the object on a reference picture, then Run.",
  "white-balance": "No mask needed: the preview shows the classic estimate; Run makes the full edit.",
};
tasks.onTask = (task) => {
  $("reference").hidden = task !== "insertion";
  $("task-hint").textContent = HINTS[task];
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
    results.add({ taskId: null, task: "white-balance", before: source, after: preview, preview: true });
    setView("result");
    ui.announce("White-balance preview ready: compare before and after.");
  } catch (err) {
    if (!controller.signal.aborted) ui.error(err, "The white-balance preview failed");
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
    useAsInput: $("use-as-input"),
  },
  compare,
  ui,
);
results.onShow = () => {
  $("view-result").disabled = false;
  setView("result");
};
results.onUseAsInput = (entry) => {
  showInput(entry.after);
  ui.announce("The result is now the picture to edit.");
};

// -- running a job ---------------------------------------------------------------------------------

const runPanel = new RunPanel({
  api,
  editor,
  tasks,
  reference,
  results,
  ui,
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

// -- keyboard ------------------------------------------------------------------------------------

function closeStatusPanel() {
  if (statusPanel.hidden) return false;
  statusPanel.hidden = true;
  $("status-button").setAttribute("aria-expanded", "false");
  $("status-button").focus();
  return true;
}

installShortcuts({ editor, stage, compare, view: () => view, closePopover: closeStatusPanel });

tasks.onTask(tasks.task);
setView("edit");
document.body.dataset.ready = "true";

/** Hooks for automated checks of the page (read-only views of its state). */
window.retouch = { editor, results, runner: runPanel.runner, status, tasks, reference, setView, get view() { return view; } };
