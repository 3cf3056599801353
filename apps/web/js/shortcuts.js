// Keyboard shortcuts of the editor: undo/redo, tools, brush size, zoom, and the keyboard cursor
// on the stage. Keys typed into text fields stay theirs.

import { isTyping } from "./stage.js";

const TOOL_KEYS = { b: "brush", e: "eraser", x: "box", s: "smart", h: "pan" };

/**
 * @param {object} deps
 * @param {import("./editor.js").Editor} deps.editor
 * @param {import("./stage.js").Stage} deps.stage
 * @param {import("./compare.js").Compare} deps.compare
 * @param {() => string} deps.view "edit" or "result"
 * @param {() => boolean} deps.closePopover closes an open popover; true when one was open
 */
export function installShortcuts({ editor, stage, compare, view, closePopover }) {
  window.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      if (!closePopover() && editor.session) editor.endSession();
      return;
    }
    if (isTyping(event.target)) return;
    const editing = view() === "edit";
    const onStage = event.target === stage.element;
    const mod = event.ctrlKey || event.metaKey;
    const key = event.key.toLowerCase();
    if (mod && editing && (key === "z" || key === "y")) {
      event.preventDefault();
      if (key === "y" || event.shiftKey) editor.redo();
      else editor.undo();
      return;
    }
    if (mod || event.altKey) {
      if (onStage && editing && editor.onStageKey(event)) event.preventDefault();
      return;
    }
    if (editing && (key === "[" || key === "]")) {
      editor.stepBrush(key === "]" ? 1 : -1);
      event.preventDefault();
    } else if (editing && TOOL_KEYS[key] && !event.shiftKey) {
      editor.setTool(TOOL_KEYS[key]);
    } else if (key === "+" || key === "=") {
      stage.viewport.zoomCentre(1.25);
    } else if (key === "-" || key === "_") {
      stage.viewport.zoomCentre(0.8);
    } else if (key === "0") {
      stage.viewport.fit();
    } else if (key === "1") {
      stage.viewport.actualSize();
    } else if (onStage && editing && editor.onStageKey(event)) {
      event.preventDefault();
    } else if (onStage && !editing && (key === "arrowleft" || key === "arrowright")) {
      compare.setSplit(compare.split + (key === "arrowright" ? 0.05 : -0.05));
      event.preventDefault();
    }
  });
}
