// The session kept in IndexedDB, so a reload (or a crash) loses nothing: the original file, each
// edit's picture (a display-sized PNG; the full-size one stays an asset on the server), the edit
// stack and where it stands, and the current mask.

const DB_NAME = "retouch";
const DB_VERSION = 1;
const STORE = "session";
const KEY = "current";

function open() {
  return new Promise((resolve, reject) => {
    if (!("indexedDB" in window)) {
      reject(new Error("IndexedDB is not available"));
      return;
    }
    const request = indexedDB.open(DB_NAME, DB_VERSION);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function transact(mode, work) {
  const db = await open();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const store = tx.objectStore(STORE);
      let result;
      Promise.resolve(work(store)).then((value) => { result = value; }, reject);
      tx.oncomplete = () => resolve(result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

/** Save the whole session record (blobs included). */
export function saveSession(record) {
  return transact("readwrite", (store) => { store.put(record, KEY); });
}

/** The saved session record, or null. */
export function loadSession() {
  return transact("readonly", (store) => new Promise((resolve, reject) => {
    const request = store.get(KEY);
    request.onsuccess = () => resolve(request.result || null);
    request.onerror = () => reject(request.error);
  }));
}

/** Forget the saved session. */
export function clearSession() {
  return transact("readwrite", (store) => { store.delete(KEY); });
}
