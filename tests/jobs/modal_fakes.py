"""In-memory fakes of exactly the Modal calls ``retouch.jobs.modal`` makes (their ``.aio`` forms):
``Dict.put/get/pop/items``, ``Queue.get_many/clear`` (and ``put``, which the generation worker
calls), ``Function.spawn``, ``Volume.batch_upload/read_file/remove_file``. The fake worker
follows the jobs <-> worker contract: it decodes the spawned RunRequest, puts encoded RunEvents on
the queue partition ``run_id``, and polls the cancel dict between steps."""

from __future__ import annotations

import asyncio
import contextlib
import io
import types
from collections.abc import AsyncIterator, Callable
from typing import Any, BinaryIO

from PIL import Image

from retouch.sdk import codec
from retouch.sdk.models.common import Problem
from retouch.sdk.models.generation import ErrorEvent, ProgressEvent, ResultEvent, RunRequest


class _Call:
    """A Modal method: the fakes only offer the ``.aio`` form the code under test uses."""

    def __init__(self, func: Callable[..., Any]) -> None:
        self.aio = func


class FakeDict:
    def __init__(self) -> None:
        self.data: dict[Any, Any] = {}
        self.put = _Call(self._put)
        self.get = _Call(self._get)
        self.pop = _Call(self._pop)
        self.items = _Call(self._items)

    async def _put(self, key: Any, value: Any, *, skip_if_exists: bool = False) -> bool:
        await asyncio.sleep(0)
        if skip_if_exists and key in self.data:
            return False
        self.data[key] = value
        return True

    async def _get(self, key: Any, default: Any = None) -> Any:
        await asyncio.sleep(0)
        return self.data.get(key, default)

    async def _pop(self, key: Any, default: Any = ...) -> Any:
        if default is ...:
            return self.data.pop(key)
        return self.data.pop(key, default)

    async def _items(self) -> AsyncIterator[tuple[Any, Any]]:
        for item in list(self.data.items()):
            yield item


class FakeQueue:
    def __init__(self) -> None:
        self.partitions: dict[str | None, list[Any]] = {}
        self.cleared: list[str | None] = []
        self.put = _Call(self._put)
        self.get_many = _Call(self._get_many)
        self.clear = _Call(self._clear)

    async def _put(
        self, v: Any, block: bool = True, timeout: float | None = None, *, partition: str | None = None
    ) -> None:
        self.partitions.setdefault(partition, []).append(v)

    async def _get_many(
        self, n_values: int, block: bool = True, timeout: float | None = None, *, partition: str | None = None
    ) -> list[Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (timeout or 0.0)
        while True:
            items = self.partitions.get(partition, [])
            if items or not block or loop.time() >= deadline:
                taken, self.partitions[partition] = items[:n_values], items[n_values:]
                return taken
            await asyncio.sleep(0.005)

    async def _clear(self, *, partition: str | None = None, all: bool = False) -> None:
        self.partitions.pop(partition, None)
        self.cleared.append(partition)


class FakeWorker:
    """The generation worker behind ``Function.spawn``: ``steps=N delay=S`` in the prompt."""

    def __init__(self, events: FakeQueue, cancels: FakeDict) -> None:
        self.events = events
        self.cancels = cancels
        self.spawned: list[RunRequest] = []
        self.steps_done: dict[str, int] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.spawn = _Call(self._spawn)

    async def _spawn(self, payload: bytes) -> object:
        request = codec.decode(payload, RunRequest)
        self.spawned.append(request)
        task = asyncio.get_running_loop().create_task(self._work(request))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return object()

    async def _work(self, request: RunRequest) -> None:
        run_id = request.run_id or ""
        words = dict(w.split("=", 1) for w in request.prompt.split() if "=" in w)
        total, delay = int(words.get("steps", 3)), float(words.get("delay", 0))

        async def put(event: Any) -> None:
            await self.events.put.aio(codec.encode(event), partition=run_id)

        await put(ProgressEvent(run_id=run_id, stage="loading_model"))
        for step in range(1, total + 1):
            if await self.cancels.get.aio(run_id):
                await put(ErrorEvent(run_id=run_id, problem=Problem(title="Conflict", status=409, detail="cancelled")))
                return
            await asyncio.sleep(delay)
            self.steps_done[run_id] = step
            await put(
                ProgressEvent(
                    run_id=run_id, stage="denoising", progress=step / total, current_step=step, total_steps=total
                )
            )
        with Image.open(io.BytesIO(request.input_image)) as image:
            size = image.size
            out = io.BytesIO()
            image.convert("RGB").save(out, format="PNG")
        await put(ResultEvent(run_id=run_id, image=out.getvalue(), width=size[0], height=size[1], seed=1))  # type: ignore[arg-type]


class _Upload:
    def __init__(self, volume: FakeVolume) -> None:
        self.volume = volume
        self.pending: dict[str, bytes] = {}

    def put_file(self, local_file: BinaryIO, remote_path: str, mode: int | None = None) -> None:
        self.pending[remote_path] = local_file.read()


class FakeVolume:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.batch_upload = _Call(self._batch_upload)
        self.read_file = _Call(self._read_file)
        self.remove_file = _Call(self._remove_file)
        self.listdir = _Call(self._listdir)

    @contextlib.asynccontextmanager
    async def _batch_upload(self, force: bool = False) -> AsyncIterator[_Upload]:
        upload = _Upload(self)
        yield upload
        for path, data in upload.pending.items():
            if path in self.files and not force:
                raise FileExistsError(path)
            self.files[path] = data

    async def _read_file(self, path: str) -> AsyncIterator[bytes]:
        if path not in self.files:
            raise FileNotFoundError(path)
        data = self.files[path]
        for start in range(0, len(data), 7):
            yield data[start : start + 7]

    async def _listdir(self, path: str) -> list[Any]:
        # Like modal's FileEntry list: one entry per name directly under ``path``.
        prefix = path.rstrip("/") + "/"
        names = sorted({p[len(prefix) :].split("/", 1)[0] for p in self.files if p.startswith(prefix)})
        if not names:
            raise FileNotFoundError(path)
        return [types.SimpleNamespace(path=(prefix + name).lstrip("/")) for name in names]

    async def _remove_file(self, path: str, recursive: bool = False) -> None:
        doomed = [p for p in self.files if p == path or (recursive and p.startswith(path.rstrip("/") + "/"))]
        if not doomed:
            raise FileNotFoundError(path)
        for p in doomed:
            del self.files[p]
