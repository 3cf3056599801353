"""Generation with Qwen-Image-Edit-2509 on Modal: ``modal deploy deploy/generation.py``.

The app the jobs service spawns runs on (``MODAL_GENERATION_APP``), with:

- ``QwenService``: one GPU container class (H100 by default; ``RETOUCH_GENERATION_GPU`` at deploy
  time picks another that holds the 58 GB bf16 model: ``A100-80GB``, ``H100``, ``H200``, ``B200``),
  scaling to zero, weights read from the ``retouch-models`` volume straight onto the GPU. It
  serves the internal HTTP API at ``https://<workspace>--qwen.modal.run`` and runs spawned jobs
  (:meth:`QwenService.run`), both on the one model it loads at start-up. Memory snapshots keep
  torch, diffusers and transformers imported across cold starts; with
  ``RETOUCH_GENERATION_GPU_SNAPSHOT=1`` (Modal's GPU memory snapshots, opt-in) the loaded model
  itself is in the snapshot. ``RETOUCH_QWEN_COMPILE=1`` compiles the transformer's repeated
  blocks, with the inductor cache in the ``retouch-inductor-cache`` volume.
- ``generation_worker`` (``MODAL_WORKER_FUNCTION``): the function the jobs service spawns with a
  ``RunRequest`` as JSON bytes. Modal looks functions up by name but methods only through their
  class, so this small CPU function hands the run to ``QwenService.run`` and waits for it.

A run reports on the ``MODAL_EVENTS_QUEUE`` modal.Queue, partition = run id: each encoded
``RunEvent``, ending with exactly one ``ResultEvent`` or ``ErrorEvent``; it stops between two
denoising steps once ``MODAL_CANCEL_DICT[run_id]`` is set.

Weights, once (idempotent): ``modal run deploy/generation.py::download_weights`` fetches the model
and the Lightning LoRA (fast mode); ``--loras`` adds the per-task LoRAs from the Hub, a URL, another
Modal Volume or a file on the deploying machine (see :func:`parse_loras`). Tasks without a LoRA are
edited by the base model from an instruction prompt.

This file imports only modal and the standard library at module level (``modal deploy`` works
right after ``pip install modal``); the SDK and the service are imported inside the container.
"""

from __future__ import annotations

import os
import shutil
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import modal
from _common import (
    APP_NAMES,
    HF_CACHE_DIR,
    INDUCTOR_CACHE_DIR,
    JOBS_BLOB_DIR,
    LABELS,
    MODAL_CANCEL_DICT,
    MODAL_EVENTS_QUEUE,
    MODAL_WORKER_FUNCTION,
    MODELS_DIR,
    deploy_flag,
    deploy_int,
    deploy_str,
    fetch_once,
    generation_max_containers,
    hf_secrets,
    inductor_cache_volume,
    jobs_blob_volume,
    min_containers,
    models_volume,
    proxy_auth_enabled,
    service_token_secret,
)
from images import generation_image, trampoline_image

#: The base model on the Hugging Face Hub, and the revision fetched (a commit pins it).
QWEN_REPO = deploy_str("RETOUCH_QWEN_REPO", "Qwen/Qwen-Image-Edit-2509")
QWEN_REVISION = deploy_str("RETOUCH_QWEN_REVISION", "main")
QWEN_DIR = f"{MODELS_DIR}/qwen"
QWEN_MODEL_DIR = f"{QWEN_DIR}/{QWEN_REPO.rsplit('/', 1)[-1]}"
#: One adapter a task, at a fixed name: the service configures those that are present.
LORA_DIR = f"{QWEN_DIR}/loras"
TASKS = ("removal", "insertion", "white-balance")
#: The seed's LoRA names (and other spellings) of each task: ``wb_cp`` is white balance.
TASK_ALIASES: dict[str, str] = {
    "removal_cp": "removal",
    "insertion_cp": "insertion",
    "wb_cp": "white-balance",
    "wb": "white-balance",
    "white_balance": "white-balance",
}
#: The Lightning LoRA's file in the volume, and where ``download_weights`` gets it by default.
LIGHTNING_FILE = "lightning.safetensors"
LIGHTNING_STEPS = deploy_int("RETOUCH_QWEN_LIGHTNING_STEPS", 8, minimum=4)
LIGHTNING_SOURCE = deploy_str(
    "RETOUCH_QWEN_LIGHTNING_SOURCE",
    f"lightx2v/Qwen-Image-Lightning:Qwen-Image-Edit-2509/Qwen-Image-Edit-2509-Lightning-{LIGHTNING_STEPS}steps-V1.0-bf16.safetensors",
)
#: The GPUs that hold the bf16 model (transformer, text encoder, VAE: about 58 GB) whole.
GPUS_THAT_FIT = ("A100-80GB", "H100", "H100!", "H200", "B200")
GPU = deploy_str("RETOUCH_GENERATION_GPU", "H100")
#: ``fast`` or ``best`` for requests that do not say (default: fast, when the Lightning LoRA is there).
QUALITY = deploy_str("RETOUCH_QWEN_QUALITY", "")
#: Regional compilation of the transformer (minutes once, cached in a volume; then faster steps).
COMPILE = deploy_flag("RETOUCH_QWEN_COMPILE", False)
#: Modal GPU memory snapshots (opt-in): the model is loaded before the snapshot, onto the GPU.
GPU_SNAPSHOT = deploy_flag("RETOUCH_GENERATION_GPU_SNAPSHOT", False)
#: Service settings taken from the deploying shell when set there.
PASSED_THROUGH = (
    "RETOUCH_QWEN_PROFILES",
    "RETOUCH_QWEN_PROMPTS",
    "RETOUCH_QWEN_STRICT_LORAS",
    "RETOUCH_QWEN_PREFILL_ENGINE",
)
#: Seconds a run may take, loading included.
RUN_TIMEOUT_S = 1800
#: Modal's largest Queue item.
QUEUE_ITEM_LIMIT = 1024 * 1024
#: How long a run's event partition lives (the jobs service drains and clears it much sooner).
EVENTS_TTL_S = 6 * 3600
#: Cancellation is read from a modal.Dict at most this often (it is asked between every step).
CANCEL_POLL_S = 0.5

if GPU.removesuffix("!").split(":")[0] not in {g.removesuffix("!") for g in GPUS_THAT_FIT}:
    raise ValueError(
        f"RETOUCH_GENERATION_GPU={GPU!r} cannot hold Qwen-Image-Edit in bf16 (about 58 GB); use one of "
        f"{', '.join(g for g in GPUS_THAT_FIT if not g.endswith('!'))}"
    )

app = modal.App(APP_NAMES["generation"])
image = generation_image()
models = models_volume()
blobs = jobs_blob_volume()
events_queue = modal.Queue.from_name(MODAL_EVENTS_QUEUE, create_if_missing=True)
cancel_flags = modal.Dict.from_name(MODAL_CANCEL_DICT, create_if_missing=True)


def service_environment() -> dict[str, str]:
    """The generation service's environment in the container (the parts known at deploy time)."""
    env = {
        "RETOUCH_GENERATION_ENGINE": "qwen",
        # Classic costs nothing beside qwen: runs may ask for it (``engine``).
        "RETOUCH_GENERATION_EXTRA_ENGINES": "classic",
        "RETOUCH_QWEN_MODEL_DIR": QWEN_MODEL_DIR,
        # Explicit: nothing decides the device from what the snapshot phase (no GPU) saw.
        "RETOUCH_QWEN_DEVICE": "cuda",
        "RETOUCH_QWEN_LIGHTNING_STEPS": str(LIGHTNING_STEPS),
        "HF_HUB_OFFLINE": "1",
    }
    if QUALITY:
        env["RETOUCH_QWEN_QUALITY"] = QUALITY
    # The service's own choices, exported before deploying: which profile each LoRA family gets,
    # whether a LoRA that fails its check fails start-up.
    for name in PASSED_THROUGH:
        value = os.environ.get(name, "").strip()
        if value:
            env[name] = value
    if COMPILE:
        env["RETOUCH_QWEN_COMPILE"] = "1"
        env["TORCHINDUCTOR_CACHE_DIR"] = INDUCTOR_CACHE_DIR
        env["TORCHINDUCTOR_FX_GRAPH_CACHE"] = "1"
        env["TORCHINDUCTOR_AUTOGRAD_CACHE"] = "1"
    return env


def lora_setting(lora_dir: Path) -> str:
    """``RETOUCH_QWEN_LORAS`` for the adapters present in ``lora_dir``: ``<task>.safetensors``, or the
    seed's own name of it (``removal_cp.safetensors``, ``wb_cp.safetensors``, ...) as put there
    with ``modal volume put``."""
    present = []
    for task in TASKS:
        names = [task, *(alias for alias, target in TASK_ALIASES.items() if target == task)]
        found = next(
            (lora_dir / f"{name}.safetensors" for name in names if (lora_dir / f"{name}.safetensors").is_file()), None
        )
        if found is not None:
            present.append(f"{task}={found}")
    return ",".join(present)


def lightning_setting(lora_dir: Path) -> str | None:
    """``RETOUCH_QWEN_LIGHTNING_LORA`` when the Lightning LoRA is in the volume."""
    path = lora_dir / LIGHTNING_FILE
    return str(path) if path.is_file() else None


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
    run: Callable[[Any, Callable[[Any], None], Callable[[], bool]], object],
    put: Callable[[bytes], None],
    cancelled: Callable[[], bool],
    store_image: Callable[[str, bytes], str] | None = None,
) -> str:
    """One spawned run: decode ``payload`` (a ``RunRequest``), call ``run``, and ``put`` every event
    encoded, ending with exactly one terminal event (an ``ErrorEvent`` if ``run`` raised or ended
    without one). A result too large for one Queue item is stored with ``store_image(run_id, png)``
    when the contract can refer to it, else reported as an error. Returns the terminal event's type."""
    from retouch.sdk import codec
    from retouch.sdk.models.generation import ErrorEvent, ResultEvent, RunRequest

    request = codec.decode(payload, RunRequest)
    run_id = request.run_id
    if not run_id:
        raise ValueError("a spawned run needs its run_id")
    terminal: list[str] = []

    def on_event(event: Any) -> None:
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


def _error(run_id: str, detail: str) -> Any:
    from retouch.sdk.models.common import Problem
    from retouch.sdk.models.generation import ErrorEvent

    return ErrorEvent(run_id=run_id, problem=Problem(status=500, title="Generation failed", detail=detail))


def _oversized(event: Any, size: int, store_image: Callable[[str, bytes], str] | None) -> Any:
    """A replacement for an event too large for one Queue item: a result whose image is stored
    aside (``ResultEvent.image_blob`` names it), otherwise an error."""
    import msgspec

    from retouch.sdk.models.generation import ResultEvent

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


def _job_assets() -> Any:
    """The jobs' blob Volume, mounted here, as the source of ``asset:`` references."""
    from retouch.runtime.assets import DirectoryAssetSource

    return DirectoryAssetSource(JOBS_BLOB_DIR, refresh=blobs.reload)


def _decode_run_id(payload: bytes) -> str:
    from retouch.sdk import codec
    from retouch.sdk.models.generation import RunRequest

    return codec.decode(payload, RunRequest).run_id or ""


_volumes: dict[str, modal.Volume] = {MODELS_DIR: models, JOBS_BLOB_DIR: blobs}
if COMPILE:
    _volumes[INDUCTOR_CACHE_DIR] = inductor_cache_volume()


@app.cls(
    image=image,
    gpu=GPU,
    cpu=4.0,
    # The weights stream from the volume straight onto the GPU: host memory holds no model copy.
    memory=32768,
    volumes=_volumes,
    secrets=[service_token_secret()],
    min_containers=min_containers("generation"),
    max_containers=generation_max_containers(),
    scaledown_window=deploy_int("RETOUCH_GENERATION_SCALEDOWN_S", 300, minimum=2),
    timeout=RUN_TIMEOUT_S,
    enable_memory_snapshot=True,
    experimental_options={"enable_gpu_snapshot": True} if GPU_SNAPSHOT else None,
    env=service_environment(),
)
# Runs take turns on the one model; a second input may wait here rather than start a second GPU
# (target 1 keeps one run per container while containers can be added), and health checks are
# answered while a run is in progress.
@modal.concurrent(max_inputs=4, target_inputs=1)
class QwenService:
    """The generation service on one GPU: the HTTP API and spawned runs share its model."""

    @modal.enter(snap=True)
    def import_libraries(self) -> None:
        """Captured in the memory snapshot: the heavy imports (no GPU is attached yet), and with GPU
        snapshots the whole loaded model."""
        import torch  # noqa: F401
        from diffusers import QwenImageEditPlusPipeline  # noqa: F401

        import retouch.generation.app
        import retouch.generation.engines.qwen  # noqa: F401

        if GPU_SNAPSHOT:
            self._start()
            # Loaded (onto the GPU) before the snapshot is taken; the restored container's
            # ensure_loading() below then finds the load done instead of starting another.
            self.runner.ensure_loading()
            self.runner.wait_ready()

    @modal.enter(snap=False)
    def load(self) -> None:
        """Configure the adapters present in the volume, build the service, and start loading the
        model onto the GPU. Loading runs in the background: health says ``loading`` and a run that
        arrives meanwhile reports ``loading_model`` every few seconds until the model is ready."""
        if not GPU_SNAPSHOT:
            self._start()
        self.runner.ensure_loading()

    def _start(self) -> None:
        os.environ.setdefault("RETOUCH_QWEN_LORAS", lora_setting(Path(LORA_DIR)))
        lightning = lightning_setting(Path(LORA_DIR))
        if lightning is not None:
            os.environ.setdefault("RETOUCH_QWEN_LIGHTNING_LORA", lightning)
        if not Path(QWEN_MODEL_DIR, "model_index.json").is_file():
            print(
                f"Qwen weights missing at {QWEN_MODEL_DIR}: run `modal run deploy/generation.py::download_weights` once"
            )
        from retouch.generation.app import create_app

        self.web_app = create_app()
        # The HTTP API and spawned runs share this runner, hence one model on the GPU.
        self.runner = self.web_app.state.runner

    @modal.asgi_app(label=LABELS["generation"], requires_proxy_auth=proxy_auth_enabled())
    def serve(self) -> object:
        """The internal generation API (``/api/generation/run``, cancel, health)."""
        return self.web_app

    @modal.method()
    def run(self, payload: bytes) -> str:
        """A spawned run (see :func:`run_request`); returns the terminal event's type."""
        run_id = _decode_run_id(payload)
        try:
            return run_request(
                payload,
                run=runner_run(self.runner, _job_assets()),
                put=lambda data: events_queue.put(data, partition=run_id, partition_ttl=EVENTS_TTL_S),
                cancelled=CancelFlag(lambda: cancel_flags.get(run_id, False)),
                store_image=_store_result,
            )
        finally:
            cancel_flags.pop(run_id, None)


def runner_run(runner: Any, assets: Any = None) -> Callable[[Any, Callable[[Any], None], Callable[[], bool]], None]:
    """Adapt a ``retouch.generation.Runner`` to :func:`run_request`: validation errors, failures and
    cancellation become the package's own terminal ``ErrorEvent`` (409 ``cancelled`` included).
    ``asset:`` references in the request are read through ``assets`` (a runtime ``AssetSource``,
    the mounted jobs blob Volume on Modal) as the job's owner."""
    from retouch.generation.runner import error_event
    from retouch.runtime.assets import ANONYMOUS, acting_as

    def run(request: Any, on_event: Callable[[Any], None], cancelled: Callable[[], bool]) -> None:
        with acting_as(request.owner or ANONYMOUS, assets):
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
        run_id = _decode_run_id(payload)
        if run_id:
            from retouch.sdk import codec

            event = _error(run_id, f"the generation container was lost: {type(exc).__name__}: {exc}")
            events_queue.put(codec.encode(event), partition=run_id, partition_ttl=EVENTS_TTL_S)
        raise


# -- provisioning -------------------------------------------------------------------------------

SOURCE_FORMS = (
    "owner/repo:path/in/repo.safetensors (Hugging Face Hub)",
    "https://host/file.safetensors",
    "volume:<volume-name>:/path/in/volume.safetensors (another Modal Volume)",
    "a path on the machine running `modal run` (uploaded)",
)


def task_name(name: str) -> str:
    """The task ``name`` stands for: a task, or one of its aliases (the seed's ``wb_cp`` ...)."""
    key = name.strip()
    key = key.removesuffix(".safetensors")
    if key in TASKS:
        return key
    if key in TASK_ALIASES:
        return TASK_ALIASES[key]
    raise ValueError(
        f"{name!r} is not a task; tasks are {', '.join(TASKS)} (the seed's names: {', '.join(TASK_ALIASES)})"
    )


def source_kind(source: str) -> str:
    """``hub``, ``url``, ``volume`` or ``local`` for a LoRA source."""
    if source.startswith(("https://", "http://")):
        return "url"
    if source.startswith("volume:"):
        _, name, path = [*source.split(":", 2), "", ""][:3]
        if not name or not path:
            raise ValueError(f"{source!r}: expected volume:<volume-name>:/path/in/volume.safetensors")
        return "volume"
    repo, sep, filename = source.partition(":")
    if sep and filename and repo.count("/") == 1 and not repo.startswith(("/", ".", "~")):
        return "hub"
    return "local"


def parse_loras(spec: str) -> dict[str, str]:
    """``<task>=<source>,...`` into ``{task: source}``. A task is ``removal``, ``insertion``,
    ``white-balance`` or a seed name (``removal_cp``, ``insertion_cp``, ``wb_cp``); ``task=`` may be
    left out when the file is named after one (``volume:seed-loras:/wb_cp.safetensors``). A source
    is one of :data:`SOURCE_FORMS`."""
    loras: dict[str, str] = {}
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        task, sep, source = item.partition("=")
        if not sep:
            if not item.endswith(".safetensors"):
                raise ValueError(f"{item!r}: expected <task>=<source>, or a .safetensors file named after its task")
            source = item
            stem = Path(item.rsplit(":", 1)[-1]).name
            try:
                task = task_name(stem)
            except ValueError:
                raise ValueError(
                    f"{item!r}: expected <task>=<source> (or a file named after its task); sources: {'; '.join(SOURCE_FORMS)}"
                ) from None
        source = source.strip()
        if not source:
            raise ValueError(f"{item!r}: expected <task>=<source>; sources: {'; '.join(SOURCE_FORMS)}")
        try:
            resolved = task_name(task)
        except ValueError as exc:
            raise ValueError(f"{item!r}: expected a task before '=': {exc}") from None
        source_kind(source)
        loras[resolved] = source
    return loras


#: Kept for callers of the earlier name.
_parse_loras = parse_loras


def fetch_source(
    source: str,
    target: Path,
    *,
    hf_cache: str = HF_CACHE_DIR,
    read_volume: Callable[[str, str], Any] | None = None,
) -> None:
    """Write the file ``source`` names (:data:`SOURCE_FORMS`) at ``target``. ``read_volume(name,
    path)`` yields a Modal Volume file's bytes in chunks (default: the Modal client's)."""
    kind = source_kind(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    if kind == "url":
        with urllib.request.urlopen(source) as response, target.open("wb") as out:
            while chunk := response.read(1 << 20):
                out.write(chunk)
    elif kind == "volume":
        _, name, path = source.split(":", 2)
        reader = read_volume or (lambda n, p: modal.Volume.from_name(n).read_file(p))
        with target.open("wb") as out:
            for chunk in reader(name, path):
                out.write(chunk)
    elif kind == "hub":
        from huggingface_hub import hf_hub_download

        repo, _, filename = source.partition(":")
        downloaded = hf_hub_download(repo_id=repo, filename=filename, cache_dir=hf_cache)
        shutil.copyfile(downloaded, target)
    else:
        local = Path(source).expanduser()
        if not local.is_file():
            raise FileNotFoundError(f"{source}: no such file (a local path is read where `modal run` runs)")
        shutil.copyfile(local, target)


def lora_target(task: str) -> Path:
    """Where the service looks for ``task``'s LoRA in the volume."""
    return Path(LORA_DIR) / f"{task}.safetensors"


@app.function(image=image, volumes={MODELS_DIR: models}, secrets=hf_secrets(), timeout=4 * 3600, cpu=4.0, memory=8192)
def download_weights(
    loras: str = "", revision: str = QWEN_REVISION, lightning: str = LIGHTNING_SOURCE
) -> dict[str, str]:
    """Fetch Qwen-Image-Edit, the Lightning LoRA (``lightning``; ``""`` skips it) and the per-task LoRAs
    into the models volume; what is there already is skipped (and an interrupted model download
    resumes). ``loras``: see :func:`parse_loras` (default ``RETOUCH_QWEN_LORA_SOURCES``); files on the
    deploying machine go through :func:`provision`, which uploads them first."""
    from huggingface_hub import snapshot_download

    sources = parse_loras(loras or os.environ.get("RETOUCH_QWEN_LORA_SOURCES", ""))
    report: dict[str, str] = {}

    def fetch_model(path: Path) -> None:
        snapshot_download(repo_id=QWEN_REPO, revision=revision, local_dir=str(path))

    fetched = fetch_once(Path(QWEN_MODEL_DIR), f"{QWEN_REPO}@{revision}", fetch_model, resumable=True)
    report["model"] = f"{'downloaded' if fetched else 'already present'}: {QWEN_MODEL_DIR}"
    models.commit()
    if lightning:
        target = Path(LORA_DIR) / LIGHTNING_FILE
        fetched = fetch_once(target, lightning, lambda path: fetch_source(lightning, path))
        report["lightning"] = f"{'downloaded' if fetched else 'already present'}: {target}"
        models.commit()
    for task, source in sources.items():
        if source_kind(source) == "local":
            raise ValueError(
                f"{task}={source}: a local file is uploaded by `modal run deploy/generation.py::provision`"
            )
        target = lora_target(task)
        fetched = fetch_once(target, source, lambda path, source=source: fetch_source(source, path))
        report[task] = f"{'downloaded' if fetched else 'already present'}: {target}"
        models.commit()
    report.update(adapter_report(Path(LORA_DIR)))
    for line in report.items():
        print(*line, sep=": ")
    return report


def adapter_report(lora_dir: Path) -> dict[str, str]:
    """What the service will do per task with the LoRAs in ``lora_dir``."""
    configured = dict(item.split("=", 1) for item in lora_setting(lora_dir).split(",") if item)
    report = {}
    for task in TASKS:
        report[f"{task} adapter"] = configured.get(task) or "none: the base model edits from an instruction prompt"
    report["fast mode"] = (
        "Lightning LoRA present" if lightning_setting(lora_dir) else "no Lightning LoRA: only quality=best"
    )
    return report


def volume_path(path: Path) -> str:
    """``path`` (under the models volume's mount) as a path inside the volume."""
    return "/" + str(path.relative_to(MODELS_DIR))


def upload_local_loras(sources: dict[str, str], volume: Any) -> dict[str, str]:
    """Put the LoRA files of ``sources`` that are paths on this machine into ``volume`` (its
    ``batch_upload``), each at its task's place with a ``.source`` record; returns task -> volume path."""
    import tempfile

    local = {task: Path(source).expanduser() for task, source in sources.items() if source_kind(source) == "local"}
    missing = [str(path) for path in local.values() if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"no such LoRA file here: {', '.join(missing)}")
    uploaded: dict[str, str] = {}
    if not local:
        return uploaded
    with tempfile.TemporaryDirectory() as scratch, volume.batch_upload(force=True) as batch:
        for task, path in local.items():
            target = volume_path(lora_target(task))
            marker = Path(scratch) / f"{task}.source"
            marker.write_text(f"uploaded {path.name}\n", encoding="utf-8")
            batch.put_file(str(path), target)
            batch.put_file(str(marker), target + ".source")
            uploaded[task] = target
    return uploaded


@app.local_entrypoint()
def provision(loras: str = "", revision: str = QWEN_REVISION, lightning: str = LIGHTNING_SOURCE) -> None:
    """``modal run deploy/generation.py::provision --loras removal=./removal_cp.safetensors,...``: like
    :func:`download_weights`, and LoRA files on this machine are uploaded into the models volume first
    (``modal volume put retouch-models removal_cp.safetensors /qwen/loras/removal.safetensors`` does the
    same by hand)."""
    sources = parse_loras(loras)
    for task, target in upload_local_loras(sources, models).items():
        print(f"{task}: uploaded to retouch-models:{target}")
    remote = ",".join(f"{task}={source}" for task, source in sources.items() if source_kind(source) != "local")
    download_weights.remote(loras=remote, revision=revision, lightning=lightning)
