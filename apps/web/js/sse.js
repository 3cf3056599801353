// Server-sent events over fetch (EventSource cannot send an Authorization header): a parser of
// the text/event-stream format, yielding one {id, event, data} per dispatched event.

/**
 * @param {ReadableStream<Uint8Array>} body
 * @param {() => void} [onActivity] called on every chunk, heartbeat comments included
 * @returns {AsyncGenerator<{id: string | null, event: string, data: string}>}
 */
export async function* readEvents(body, onActivity) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let data = [];
  let event = "";
  let id = null;
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      if (onActivity) onActivity();
      buffer += decoder.decode(value, { stream: true });
      const lines = buffer.split(/\r\n|\r|\n/);
      // A chunk may end inside a line (or between \r and \n): keep the unfinished tail.
      buffer = lines.pop() ?? "";
      for (const line of lines) {
        if (line === "") {
          if (data.length) yield { id, event: event || "message", data: data.join("\n") };
          data = [];
          event = "";
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon === -1 ? line : line.slice(0, colon);
        let value = colon === -1 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "data") data.push(value);
        else if (field === "event") event = value;
        else if (field === "id" && !value.includes("\0")) id = value;
      }
    }
  } finally {
    reader.releaseLock();
  }
}
