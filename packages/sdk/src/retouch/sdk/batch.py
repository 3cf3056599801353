"""Batch edits over a folder: ``client.batch(...)`` and ``retouch batch``.

>>> report = client.batch("photos/", task_type="removal", mask_file="mask.png", out="edited/")
>>> [outcome.name for outcome in report.failed]

Every picture of the folder (not its subfolders) becomes one job; at most ``concurrency`` run at
once. Each result is written under the same file name in ``out`` (``.png``, ``.jpg``/``.jpeg``
and ``.webp`` keep their format; other formats get a ``.png`` result named ``<name>.png``),
atomically, so a file that exists in ``out`` is finished. An interrupted batch is resumed by running
it again: finished files are skipped, and a file whose job was already submitted maps to the same
job (its ``Idempotency-Key`` is derived from the file's content, its mask and the options), so no
picture is edited twice. Failures do not stop the batch; they are reported at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, NamedTuple

import msgspec

from retouch.sdk import _codec
from retouch.sdk._base import NOT_GIVEN, Timeout
from retouch.sdk.codec import AssetRef
from retouch.sdk.errors import RetouchError
from retouch.sdk.files import write_atomically
from retouch.sdk.models.generation import GenerationRequest, TaskType
from retouch.sdk.resources.assets import worth_uploading
from retouch.sdk.resources.jobs import build_request

if TYPE_CHECKING:
    from retouch.sdk._client import AsyncClient, Client

__all__ = [
    "IMAGE_SUFFIXES",
    "BatchFile",
    "BatchOutcome",
    "BatchProgress",
    "BatchReport",
    "idempotency_key",
    "plan_batch",
    "run_batch",
    "run_batch_async",
]

#: File name suffixes taken as pictures (case-insensitive).
IMAGE_SUFFIXES: Final = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif"})
#: Suffixes whose format the result keeps; the others are written as PNG.
_KEPT: Final = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp"}
_NEEDS_MASK: Final = ("removal", "insertion")


class BatchFile(msgspec.Struct, kw_only=True):
    """One picture of a batch: where it is, its mask, and where its result goes."""

    source: Path
    output: Path
    mask: Path | None = None
    #: Why this file cannot be edited (no mask found for it); it is reported as failed.
    problem: str | None = None

    @property
    def name(self) -> str:
        """The picture's file name."""
        return self.source.name

    @property
    def format(self) -> str:
        """The format its result is fetched in."""
        return _KEPT.get(self.output.suffix.lower(), "png")


class BatchOutcome(msgspec.Struct, kw_only=True):
    """How one file of a batch ended: ``done`` (written now), ``skipped`` (its result was there
    already) or ``failed`` (``error`` says why)."""

    name: str
    status: Literal["done", "skipped", "failed"]
    output: str
    task_id: str | None = None
    error: str | None = None


class BatchReport(msgspec.Struct, kw_only=True):
    """Every file's outcome, in file name order."""

    outcomes: list[BatchOutcome]

    @property
    def done(self) -> list[BatchOutcome]:
        """Files edited by this run."""
        return [outcome for outcome in self.outcomes if outcome.status == "done"]

    @property
    def skipped(self) -> list[BatchOutcome]:
        """Files whose result existed already (an earlier run finished them)."""
        return [outcome for outcome in self.outcomes if outcome.status == "skipped"]

    @property
    def failed(self) -> list[BatchOutcome]:
        """Files that could not be edited."""
        return [outcome for outcome in self.outcomes if outcome.status == "failed"]


#: Called after each file with its outcome, how many files are finished, and how many there are.
BatchProgress = Callable[[BatchOutcome, int, int], Any]


def _pictures(directory: Path) -> list[Path]:
    return sorted(
        (path for path in directory.iterdir() if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES),
        key=lambda path: path.name,
    )


def _mask_for(source: Path, masks: dict[str, Path], by_stem: dict[str, list[Path]]) -> Path | None:
    exact = masks.get(source.name)
    if exact is not None:
        return exact
    candidates = by_stem.get(source.stem, [])
    return candidates[0] if len(candidates) == 1 else None


def plan_batch(
    directory: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    task_type: TaskType,
    mask_file: str | os.PathLike[str] | None = None,
    masks_dir: str | os.PathLike[str] | None = None,
) -> list[BatchFile]:
    """The files of a batch. Removal and insertion need ``mask_file`` (one mask for every picture)
    or ``masks_dir`` (a mask per picture, of the same file name or the same name stem); white
    balance takes none. ``ValueError`` for a setup that cannot work (no such folder, ``out`` being
    the input folder, both or neither mask option)."""
    source_dir, out_dir = Path(directory), Path(out)
    if not source_dir.is_dir():
        raise ValueError(f"{source_dir} is not a folder")
    if out_dir.exists() and out_dir.resolve() == source_dir.resolve():
        raise ValueError("the output folder must not be the input folder (results keep the file names)")
    if task_type in _NEEDS_MASK:
        if (mask_file is None) == (masks_dir is None):
            raise ValueError(f"{task_type} needs a mask: give one mask file or a folder of masks (not both)")
    elif mask_file is not None or masks_dir is not None:
        raise ValueError(f"{task_type} takes no mask")
    single = Path(mask_file) if mask_file is not None else None
    if single is not None and not single.is_file():
        raise ValueError(f"mask {single} is not a file")
    masks: dict[str, Path] = {}
    by_stem: dict[str, list[Path]] = {}
    if masks_dir is not None:
        folder = Path(masks_dir)
        if not folder.is_dir():
            raise ValueError(f"{folder} is not a folder")
        for path in _pictures(folder):
            masks[path.name] = path
            by_stem.setdefault(path.stem, []).append(path)
    files = []
    for source in _pictures(source_dir):
        if single is not None and source.resolve() == single.resolve():
            continue
        output = out_dir / (source.name if source.suffix.lower() in _KEPT else source.name + ".png")
        item = BatchFile(source=source, output=output, mask=single)
        if masks_dir is not None:
            item.mask = _mask_for(source, masks, by_stem)
            if item.mask is None:
                item.problem = f"no mask for {source.name} in {masks_dir} (same name, or the same name stem)"
        files.append(item)
    return files


def idempotency_key(image: bytes, mask: bytes | None, task_type: str, prompt: str, options: dict[str, Any]) -> str:
    """The ``Idempotency-Key`` of one file's job: the same picture, mask and options give the same key."""
    digest = hashlib.sha256()
    for part in (task_type.encode(), prompt.encode(), _codec.encode(dict(sorted(options.items()))), image, mask or b""):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return "batch-" + digest.hexdigest()[:48]


class _Prepared(NamedTuple):
    request: GenerationRequest
    key: str


class _Read(NamedTuple):
    image: bytes
    mask: bytes | None


def _read(item: BatchFile) -> _Read:
    return _Read(item.source.read_bytes(), item.mask.read_bytes() if item.mask is not None else None)


def _prepare(
    read: _Read, image: bytes | AssetRef, task_type: TaskType, prompt: str, options: dict[str, Any]
) -> _Prepared:
    """The job's request (``image``: the picture, or its asset reference) and its key (from the
    picture's bytes either way, so a rerun maps to the same job)."""
    mask = read.mask
    request = build_request(
        image,
        task_type=task_type,
        prompt=prompt,
        mask=mask,
        reference_image=None,
        reference_mask=None,
        options=options,
    )
    return _Prepared(request, idempotency_key(read.image, mask, task_type, prompt, options))


def _failed(item: BatchFile, error: str, task_id: str | None = None) -> BatchOutcome:
    return BatchOutcome(name=item.name, status="failed", output=str(item.output), task_id=task_id, error=error)


def _one(
    client: Client, item: BatchFile, task_type: TaskType, prompt: str, options: dict[str, Any], timeout: Timeout
) -> BatchOutcome:
    if item.problem is not None:
        return _failed(item, item.problem)
    if item.output.exists():
        return BatchOutcome(name=item.name, status="skipped", output=str(item.output))
    task_id = None
    try:
        read = _read(item)
        # A big picture goes up once as an asset (as ``edit`` does) instead of inside the request.
        image = client.assets.ref(read.image, timeout=timeout) if worth_uploading(read.image) else read.image
        prepared = _prepare(read, image, task_type, prompt, options)
        task_id = client.jobs.submit(prepared.request, idempotency_key=prepared.key, timeout=timeout).task_id
        final = client.jobs.wait(task_id, timeout=timeout)
        if final.status != "done":
            return _failed(item, f"{final.status}: {final.error or 'no detail'}", task_id)
        write_atomically(item.output, client.jobs.result_image(task_id, format=item.format, timeout=timeout))
    except (RetouchError, OSError, ValueError) as exc:
        return _failed(item, str(exc), task_id)
    return BatchOutcome(name=item.name, status="done", output=str(item.output), task_id=task_id)


async def _one_async(
    client: AsyncClient, item: BatchFile, task_type: TaskType, prompt: str, options: dict[str, Any], timeout: Timeout
) -> BatchOutcome:
    if item.problem is not None:
        return _failed(item, item.problem)
    if item.output.exists():
        return BatchOutcome(name=item.name, status="skipped", output=str(item.output))
    task_id = None
    try:
        read = await asyncio.to_thread(_read, item)
        image = await client.assets.ref(read.image, timeout=timeout) if worth_uploading(read.image) else read.image
        prepared = _prepare(read, image, task_type, prompt, options)
        task_id = (await client.jobs.submit(prepared.request, idempotency_key=prepared.key, timeout=timeout)).task_id
        final = await client.jobs.wait(task_id, timeout=timeout)
        if final.status != "done":
            return _failed(item, f"{final.status}: {final.error or 'no detail'}", task_id)
        data = await client.jobs.result_image(task_id, format=item.format, timeout=timeout)
        await asyncio.to_thread(write_atomically, item.output, data)
    except (RetouchError, OSError, ValueError) as exc:
        return _failed(item, str(exc), task_id)
    return BatchOutcome(name=item.name, status="done", output=str(item.output), task_id=task_id)


def run_batch(
    client: Client,
    files: list[BatchFile],
    *,
    task_type: TaskType,
    prompt: str = "",
    concurrency: int = 4,
    on_progress: BatchProgress | None = None,
    timeout: Timeout = NOT_GIVEN,
    options: dict[str, Any] | None = None,
) -> BatchReport:
    """Edit ``files`` with at most ``concurrency`` jobs at once; see the module docstring."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    extra = dict(options or {})
    outcomes: dict[str, BatchOutcome] = {}
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="retouch-batch")
    try:
        futures = [pool.submit(_one, client, item, task_type, prompt, extra, timeout) for item in files]
        for finished, future in enumerate(as_completed(futures), 1):
            outcome = future.result()
            outcomes[outcome.name] = outcome
            if on_progress is not None:
                on_progress(outcome, finished, len(files))
    finally:
        # An interrupt leaves the submitted jobs running: a rerun picks them up by their keys.
        pool.shutdown(wait=False, cancel_futures=True)
    return BatchReport(outcomes=[outcomes[item.name] for item in files])


async def run_batch_async(
    client: AsyncClient,
    files: list[BatchFile],
    *,
    task_type: TaskType,
    prompt: str = "",
    concurrency: int = 4,
    on_progress: BatchProgress | None = None,
    timeout: Timeout = NOT_GIVEN,
    options: dict[str, Any] | None = None,
) -> BatchReport:
    """The async twin of :func:`run_batch`."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    extra = dict(options or {})
    slots = asyncio.Semaphore(concurrency)
    outcomes: dict[str, BatchOutcome] = {}
    finished = 0

    async def one(item: BatchFile) -> None:
        nonlocal finished
        async with slots:
            outcome = await _one_async(client, item, task_type, prompt, extra, timeout)
        outcomes[outcome.name] = outcome
        finished += 1
        if on_progress is not None:
            result = on_progress(outcome, finished, len(files))
            if asyncio.iscoroutine(result):
                await result

    tasks = [asyncio.ensure_future(one(item)) for item in files]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*tasks, return_exceptions=True)
    return BatchReport(outcomes=[outcomes[item.name] for item in files])
