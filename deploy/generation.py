"""Generation with Qwen-Image-Edit-2509 on Modal: ``modal deploy deploy/generation.py``.

The app the jobs service spawns runs on (``MODAL_GENERATION_APP``), with:

- ``QwenService``: one GPU container class (A100-80GB by default; ``RETOUCH_GENERATION_GPU`` at
  deploy time picks another), scaling to zero, weights read from the ``retouch-models`` volume. It
  serves the internal HTTP API at ``https://<workspace>--qwen.modal.run`` and runs spawned jobs
  (:meth:`QwenService.run`), both on the one model it loads at start-up. Memory snapshots keep
  torch, diffusers and transformers imported across cold starts; the weights go to the GPU after
  restore.
- ``generation_worker`` (``MODAL_WORKER_FUNCTION``): the function the jobs service spawns with a
  ``RunRequest`` as JSON bytes. Modal looks functions up by name but methods only through their
  class, so this small CPU function hands the run to ``QwenService.run`` and waits for it.

A run reports on the ``MODAL_EVENTS_QUEUE`` modal.Queue, partition = run id: each encoded
``RunEvent``, ending with exactly one ``ResultEvent`` or ``ErrorEvent``; it stops between two
denoising steps once ``MODAL_CANCEL_DICT[run_id]`` is set.

Weights, once (idempotent): ``modal run deploy/generation.py::download_weights`` (the model) with
``--loras removal=owner/repo:file.safetensors,...`` (or ``RETOUCH_QWEN_LORA_SOURCES``) for the
per-task LoRA adapters.
"""

from __future__ import annotations

import os
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import modal
import msgspec
from _common import (
    APP_NAMES,
    HF_CACHE_DIR,
    JOBS_BLOB_DIR,
    LABELS,
    MODELS_DIR,
    deploy_int,
    deploy_str,
    fetch_once,
    generation_max_containers,
    hf_secrets,
    jobs_blob_volume,
    min_containers,
    models_volume,
    proxy_auth_enabled,
    service_token_secret,
)
from images import generation_image, trampoline_image

from retouch.sdk import codec
from retouch.sdk.models.common import Problem
from retouch.sdk.models.generation import (
    MODAL_CANCEL_DICT,
    MODAL_EVENTS_QUEUE,
    MODAL_GENERATION_APP,
    MODAL_WORKER_FUNCTION,
    ErrorEvent,
    ResultEvent,
    RunEvent,
    RunRequest,
)

if APP_NAMES["generation"] != MODAL_GENERATION_APP:
    raise RuntimeError(
        f"deploy/_common.py names the generation app {APP_NAMES['generation']!r}, the SDK {MODAL_GENERATION_APP!r}"
    )

#: The base model on the Hugging Face Hub, and the revision fetched (a commit pins it).
QWEN_REPO = deploy_str("RETOUCH_QWEN_REPO", "Qwen/Qwen-Image-Edit-2509")
QWEN_REVISION = deploy_str("RETOUCH_QWEN_REVISION", "main")
QWEN_DIR = f"{MODELS_DIR}/qwen"
QWEN_MODEL_DIR = f"{QWEN_DIR}/{QWEN_REPO.rsplit('/', 1)[-1]}"
#: One adapter a task, at a fixed name: the service configures those that are present.
LORA_DIR = f"{QWEN_DIR}/loras"
TASKS = ("removal", "insertion", "white-balance")
#: The transformer, text encoder and VAE in bf16 take about 58 GB: an 80 GB card holds them whole.
GPU = deploy_str("RETOUCH_GENERATION_GPU", "A100-80GB")
#: Seconds a run may take, loading included.
RUN_TIMEOUT_S = 1800
#: Modal's largest Queue item.
QUEUE_ITEM_LIMIT = 1024 * 1024
#: How long a run's event partition lives (the jobs service drains and clears it much sooner).
EVENTS_TTL_S = 6 * 3600
#: Cancellation is read from a modal.Dict at most this often (it is asked between every step).
CANCEL_POLL_S = 0.5

app = modal.App(APP_NAMES["generation"])
image = generation_image()
models = models_volume()
blobs = jobs_blob_volume()
events_queue = modal.Queue.from_name(MODAL_EVENTS_QUEUE, create_if_missing=True)
cancel_flags = modal.Dict.from_name(MODAL_CANCEL_DICT, create_if_missing=True)


def lora_setting(lora_dir: Path) -> str:
    """``RETOUCH_QWEN_LORAS`` for the adapters present in ``lora_dir`` (``<task>.safetensors``)."""
    present = [f"{task}={lora_dir / f'{task}.safetensors'}" for task in TASKS]
    return ",".join(item for item in present if Path(item.split("=", 1)[1]).is_file())


class CancelFlag:
    """``cancelled()`` for one run: reads the shared flag at most every ``interval`` seconds, and
    stays true once it was seen."""

    def __init__(self, read: Callable[[], Any], *, interval: float = CANCEL_POLL_S) -> None:
        self._read = read
        self._interval = interval
        self._next = 0.0
        self._set = False

    def __call__(self) -> bool:
        now = time.monotonic()
        if not self._set and now >= self._next:
            self._next = now + self._interval
            self._set = bool(self._read())
        return self._set


def run_request(
    payload: bytes,
    *,
    run: Callable[[RunRequest, Callable[[RunEvent], None], Callable[[], bool]], object],
    put: Callable[[bytes], None],
    cancelled: Callable[[], bool],
    store_image: Callable[[str, bytes], str] | None = None,
) -> str:
    """One spawned run: decode ``payload`` (a ``RunRequest``), call ``run``, and ``put`` every event
    encoded, ending with exactly one terminal event (an ``ErrorEvent`` if ``run`` raised or ended
    without one). A result too large for one Queue item is stored with ``store_image(run_id, png)``
    when the contract can refer to it, else reported as an error. Returns the terminal event's type."""
    request = codec.decode(payload, RunRequest)
    run_id = request.run_id
    if not run_id:
        raise ValueError("a spawned run needs its run_id")
    terminal: list[str] = []

    def on_event(event: RunEvent) -> None:
        if terminal:
            return
        data = codec.encode(event)
        if len(data) > QUEUE_ITEM_LIMIT:
            event = _oversized(event, len(data), store_image)
            data = codec.encode(event)
        put(data)
        if isinstance(event, ResultEvent | ErrorEvent):
            terminal.append("result" if isinstance(event, ResultEvent) else "error")

    try:
        run(request, on_event, cancelled)
    except Exception as exc:
        on_event(_error(run_id, f"the generation worker failed: {exc}"))
    if not terminal:
        on_event(_error(run_id, "the generation run ended without a result"))
    return terminal[0]


def _error(run_id: str, detail: str) -> ErrorEvent:
    return ErrorEvent(run_id=run_id, problem=Problem(status=500, title="Generation failed", detail=detail))


def _oversized(event: RunEvent, size: int, store_image: Callable[[str, bytes], str] | None) -> RunEvent:
    """A replacement for an event too large for one Queue item: a result whose image is stored
    aside (``ResultEvent.image_blob`` names it), otherwise an error."""
    if isinstance(event, ResultEvent) and store_image is not None:
        key = store_image(event.run_id, bytes(event.image))
        return msgspec.structs.replace(event, image=b"", image_blob=key)
    return _error(event.run_id, f"a {size}-byte event exceeds the event queue's {QUEUE_ITEM_LIMIT}-byte item limit")


def _store_result(run_id: str, png: bytes) -> str:
    """Write a result to the jobs' blob volume; the key is relative to the volume's root."""
    key = f"runs/{run_id}/result.png"
    path = Path(JOBS_BLOB_DIR) / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    blobs.commit()
    return key


@app.cls(
    image=image,
    gpu=GPU,
    cpu=4.0,
    memory=65536,
    volumes={MODELS_DIR: models, JOBS_BLOB_DIR: blobs},
    secrets=[service_token_secret()],
    min_containers=min_containers("generation"),
    max_containers=generation_max_containers(),
    scaledown_window=deploy_int("RETOUCH_GENERATION_SCALEDOWN_S", 300, minimum=2),
    timeout=RUN_TIMEOUT_S,
    enable_memory_snapshot=True,
    env={
        "RETOUCH_GENERATION_ENGINE": "qwen",
        # Classic costs nothing beside qwen: runs may ask for it (``engine``).
        "RETOUCH_GENERATION_EXTRA_ENGINES": "classic",
        "RETOUCH_QWEN_MODEL_DIR": QWEN_MODEL_DIR,
        # Explicit: nothing decides the device from what the snapshot phase (no GPU) saw.
        "RETOUCH_QWEN_DEVICE": "cuda",
        "HF_HUB_OFFLINE": "1",
    },
)
# Runs take turns on the one model; a second input may wait here rather than start a second GPU
# (target 1 keeps one run per container while containers can be added), and health checks are
# answered while a run is in progress.
@modal.concurrent(max_inputs=4, target_inputs=1)
class QwenService:
    """The generation service on one GPU: the HTTP API and spawned runs share its model."""

    @modal.enter(snap=True)
    def import_libraries(self) -> None:
        """Captured in the memory snapshot: the heavy imports (no GPU is attached yet)."""
        import torch  # noqa: F401
        from diffusers import QwenImageEditPlusPipeline  # noqa: F401

        import retouch.generation.app
        import retouch.generation.engines.qwen  # noqa: F401

    @modal.enter(snap=False)
    def load(self) -> None:
        """Configure the adapters present in the volume, build the service, and start loading the
        model onto the GPU. Loading runs in the background: health says ``loading`` and a run that
        arrives meanwhile reports ``loading_model`` every few seconds until the model is ready."""
        os.environ.setdefault("RETOUCH_QWEN_LORAS", lora_setting(Path(LORA_DIR)))
        if not Path(QWEN_MODEL_DIR, "model_index.json").is_file():
            print(
                f"Qwen weights missing at {QWEN_MODEL_DIR}: run `modal run deploy/generation.py::download_weights` once"
            )
        from retouch.generation.app import create_app

        self.web_app = create_app()
        # The HTTP API and spawned runs share this runner, hence one model on the GPU.
        self.runner = self.web_app.state.runner
        self.runner.ensure_loading()

    @modal.asgi_app(label=LABELS["generation"], requires_proxy_auth=proxy_auth_enabled())
    def serve(self) -> object:
        """The internal generation API (``/api/generation/run``, cancel, health)."""
        return self.web_app

    @modal.method()
    def run(self, payload: bytes) -> str:
        """A spawned run (see :func:`run_request`); returns the terminal event's type."""
        run_id = codec.decode(payload, RunRequest).run_id or ""
        try:
            return run_request(
                payload,
                run=runner_run(self.runner),
                put=lambda data: events_queue.put(data, partition=run_id, partition_ttl=EVENTS_TTL_S),
                cancelled=CancelFlag(lambda: cancel_flags.get(run_id, False)),
                store_image=_store_result,
            )
        finally:
            cancel_flags.pop(run_id, None)


def runner_run(runner: Any) -> Callable[[RunRequest, Callable[[RunEvent], None], Callable[[], bool]], None]:
    """Adapt a ``retouch.generation.Runner`` to :func:`run_request`: validation errors, failures and
    cancellation become the package's own terminal ``ErrorEvent`` (409 ``cancelled`` included)."""
    from retouch.generation.runner import error_event

    def run(request: RunRequest, on_event: Callable[[RunEvent], None], cancelled: Callable[[], bool]) -> None:
        try:
            job = runner.prepare(request)
        except Exception as exc:
            on_event(error_event(request.run_id or "", exc))
            return
        runner.report(job, on_event, cancelled)

    return run


@app.function(image=trampoline_image(), cpu=0.25, memory=256, timeout=RUN_TIMEOUT_S + 120, name=MODAL_WORKER_FUNCTION)
def generation_worker(payload: bytes) -> str:
    """Spawned by the jobs service: run ``payload`` (``RunRequest`` JSON) on a ``QwenService`` container.
    If that container is lost mid-run, the run ends with an error event at once (not at the
    jobs service's watchdog)."""
    try:
        return str(QwenService().run.remote(payload))
    except Exception as exc:
        run_id = codec.decode(payload, RunRequest).run_id
        if run_id:
            event = _error(run_id, f"the generation container was lost: {type(exc).__name__}: {exc}")
            events_queue.put(codec.encode(event), partition=run_id, partition_ttl=EVENTS_TTL_S)
        raise


def _parse_loras(spec: str) -> dict[str, str]:
    loras: dict[str, str] = {}
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        task, sep, source = item.partition("=")
        if not sep or task.strip() not in TASKS or not source.strip():
            raise ValueError(f"{item!r}: expected <task>=<owner/repo:file.safetensors | https://...>, tasks {TASKS}")
        loras[task.strip()] = source.strip()
    return loras


def _fetch_lora(source: str, hf_cache: str) -> Callable[[Path], None]:
    def fetch(path: Path) -> None:
        if source.startswith("https://"):
            with urllib.request.urlopen(source) as response, path.open("wb") as out:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
            return
        from huggingface_hub import hf_hub_download

        repo, _, filename = source.partition(":")
        if not filename or repo.count("/") != 1:
            raise ValueError(f"{source!r}: expected owner/repo:file.safetensors")
        downloaded = hf_hub_download(repo_id=repo, filename=filename, cache_dir=hf_cache)
        path.write_bytes(Path(downloaded).read_bytes())

    return fetch


@app.function(image=image, volumes={MODELS_DIR: models}, secrets=hf_secrets(), timeout=4 * 3600, cpu=4.0, memory=8192)
def download_weights(loras: str = "", revision: str = QWEN_REVISION) -> dict[str, str]:
    """Fetch Qwen-Image-Edit and the LoRA adapters into the models volume; what is there already is
    skipped (and an interrupted model download resumes). ``loras``: ``removal=owner/repo:file.safetensors,
    insertion=...,white-balance=...`` (default ``RETOUCH_QWEN_LORA_SOURCES``)."""
    from huggingface_hub import snapshot_download

    sources = _parse_loras(loras or os.environ.get("RETOUCH_QWEN_LORA_SOURCES", ""))
    report: dict[str, str] = {}

    def fetch_model(path: Path) -> None:
        snapshot_download(repo_id=QWEN_REPO, revision=revision, local_dir=str(path))

    fetched = fetch_once(Path(QWEN_MODEL_DIR), f"{QWEN_REPO}@{revision}", fetch_model, resumable=True)
    report["model"] = f"{'downloaded' if fetched else 'already present'}: {QWEN_MODEL_DIR}"
    models.commit()
    for task, source in sources.items():
        target = Path(LORA_DIR) / f"{task}.safetensors"
        fetched = fetch_once(target, source, _fetch_lora(source, HF_CACHE_DIR))
        report[task] = f"{'downloaded' if fetched else 'already present'}: {target}"
        models.commit()
    missing = [task for task in TASKS if not (Path(LORA_DIR) / f"{task}.safetensors").is_file()]
    if missing:
        report["warning"] = f"no adapter for {', '.join(missing)}: the service refuses those tasks (422)"
    for line in report.items():
        print(*line, sep=": ")
    return report
