"""What the five Modal apps share: names, secrets, volumes and deploy-time settings.

Every ``deploy/<service>.py`` is its own ``modal.App``, deployable alone with
``modal deploy deploy/<service>.py``. Settings that shape the deployment itself (the GPU, how many
containers) are read from the environment of the machine running ``modal deploy``; settings of the
services themselves travel as Modal Secrets or as deploy-time environment passed through ``env=``.
This module imports nothing but ``modal`` and the standard library: it is also imported inside
every container.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import modal

__all__ = [
    "APP_NAMES",
    "DEPLOY_DIR",
    "HF_CACHE_DIR",
    "INDUCTOR_CACHE_DIR",
    "JOBS_BLOB_DIR",
    "JOBS_STORE_DICT",
    "LABELS",
    "MODAL_CANCEL_DICT",
    "MODAL_EVENTS_QUEUE",
    "MODAL_WORKER_FUNCTION",
    "MODELS_DIR",
    "PROXY_KEY_VAR",
    "PROXY_SECRET_VAR",
    "REPO_ROOT",
    "SCALE_TO_ZERO_SERVICES",
    "DeployConfigError",
    "deploy_env",
    "deploy_flag",
    "deploy_float",
    "deploy_int",
    "deploy_str",
    "fetch_once",
    "gateway_secret",
    "generation_max_containers",
    "hf_secrets",
    "inductor_cache_volume",
    "jobs_blob_volume",
    "min_containers",
    "models_volume",
    "proxy_auth_enabled",
    "proxy_auth_secret",
    "scale_to_zero_services",
    "service_token_secret",
    "service_url",
]

#: ``deploy/`` (locally: inside the repository; in a container: ``/root``, where Modal puts the app's file).
DEPLOY_DIR = Path(__file__).resolve().parent
REPO_ROOT = DEPLOY_DIR.parent

#: One Modal app a service. The generation app's name is part of the jobs <-> worker contract
#: (``retouch.sdk.models.generation.MODAL_GENERATION_APP``); tests/deploy checks they agree.
APP_NAMES: dict[str, str] = {
    "gateway": "retouch-gateway",
    "job_manager": "retouch-jobs",
    "generation": "retouch-generation",
    "segmentation": "retouch-segmentation",
    "image_utils": "retouch-image-utils",
}

#: The web endpoints' labels: ``https://<workspace>--<label>.modal.run`` (the seed's URLs).
LABELS: dict[str, str] = {
    "gateway": "api-gateway",
    "job_manager": "job-manager",
    "generation": "qwen",
    "segmentation": "fastsam",
    "image_utils": "image-utils",
}

#: The jobs <-> generation worker channel's names (``retouch.sdk.models.generation``'s MODAL_*;
#: repeated here because a deploy file imports nothing but modal and the standard library at
#: module level; tests/deploy checks they agree).
MODAL_EVENTS_QUEUE = "retouch-run-events"
MODAL_CANCEL_DICT = "retouch-run-cancel"
MODAL_WORKER_FUNCTION = "generation_worker"

#: Services whose containers scale to zero unless ``RETOUCH_<SERVICE>_MIN_CONTAINERS`` keeps some warm.
SCALE_TO_ZERO_SERVICES: tuple[str, ...] = ("generation", "segmentation", "image_utils")

# -- Secrets. Each is created once with ``modal secret create`` (see deploy/README.md).
SERVICE_TOKEN_SECRET = "retouch-service-token"  # RETOUCH_SERVICE_TOKEN, for every service
GATEWAY_SECRET = "retouch-gateway"  # RETOUCH_API_KEYS, RETOUCH_ALLOWED_ORIGINS (+ optional *_SERVICE_URL)
PROXY_AUTH_SECRET = "retouch-proxy-auth"  # a Modal proxy auth token: RETOUCH_PROXY_KEY, RETOUCH_PROXY_SECRET
#: Keys of the proxy auth secret: the token's id (``wk-...``) and secret (``ws-...``).
PROXY_KEY_VAR = "RETOUCH_PROXY_KEY"
PROXY_SECRET_VAR = "RETOUCH_PROXY_SECRET"

# -- Volumes and distributed objects.
MODELS_VOLUME = "retouch-models"
JOBS_BLOB_VOLUME = "retouch-job-blobs"
#: torch.compile's inductor cache, kept across containers so a compiled start-up is paid once.
INDUCTOR_CACHE_VOLUME = "retouch-inductor-cache"
INDUCTOR_CACHE_DIR = "/cache/inductor"
#: Where the models volume is mounted, in the generation and segmentation containers.
MODELS_DIR = "/models"
HF_CACHE_DIR = f"{MODELS_DIR}/hf-cache"
#: Where the jobs' result volume is mounted.
JOBS_BLOB_DIR = "/data/jobs-blobs"
#: The modal.Dict holding the jobs (the jobs service's store).
JOBS_STORE_DICT = "retouch-jobs"


class DeployConfigError(ValueError):
    """A deploy-time environment variable has a value the deployment cannot use."""


def deploy_str(name: str, default: str) -> str:
    """A deploy-time setting: ``name`` from the deploying shell's environment, else ``default``."""
    value = os.environ.get(name, "").strip()
    return value or default


def deploy_flag(name: str, default: bool) -> bool:
    """A yes/no deploy-time setting (``1/true/yes/on`` or ``0/false/no/off``)."""
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise DeployConfigError(f"{name}={raw!r} is not a yes/no value")


def deploy_int(name: str, default: int, *, minimum: int = 0) -> int:
    """An integer deploy-time setting, at least ``minimum``."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise DeployConfigError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise DeployConfigError(f"{name}={value} must be at least {minimum}")
    return value


def deploy_float(name: str, default: float, *, minimum: float = 0.0) -> float:
    """A number deploy-time setting, at least ``minimum``."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise DeployConfigError(f"{name}={raw!r} is not a number") from None
    if value < minimum:
        raise DeployConfigError(f"{name}={value:g} must be at least {minimum:g}")
    return value


def deploy_env(names: Iterable[str], fixed: Mapping[str, str] | None = None) -> dict[str, str | None]:
    """Container environment: ``fixed`` values, plus each of ``names`` that is set where ``modal deploy``
    runs (so a variable exported before deploying reaches the service; unset ones are left to Secrets)."""
    env: dict[str, str | None] = dict(fixed or {})
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            env[name] = value
    return env


def service_url(workspace: str, label: str, environment: str | None = None) -> str:
    """The public URL Modal gives the web endpoint ``label``: ``https://<workspace>--<label>.modal.run``
    (``<workspace>-<environment>--<label>`` outside the workspace's default environment)."""
    prefix = f"{workspace}-{environment}" if environment else workspace
    return f"https://{prefix}--{label}.modal.run"


def proxy_auth_enabled() -> bool:
    """Whether the internal services require Modal proxy auth (default yes; ``RETOUCH_PROXY_AUTH=0`` at
    deploy time turns it off everywhere, e.g. without a proxy auth token; the service token stays)."""
    return deploy_flag("RETOUCH_PROXY_AUTH", True)


def generation_max_containers() -> int:
    """Most generation (GPU) containers at once: a cost ceiling, and the jobs service's limit of runs
    in flight (``RETOUCH_GENERATION_MAX_CONTAINERS`` when deploying either app)."""
    return deploy_int("RETOUCH_GENERATION_MAX_CONTAINERS", 2, minimum=1)


def min_containers(service: str) -> int:
    """Warm containers of a scale-to-zero service: 0 unless ``RETOUCH_<SERVICE>_MIN_CONTAINERS`` says
    otherwise (latency over cost, as the seed suggests for a critical service)."""
    return deploy_int(f"RETOUCH_{service.upper()}_MIN_CONTAINERS", 0, minimum=0)


def scale_to_zero_services() -> list[str]:
    """The services that may be asleep, which the gateway reports ``idle`` instead of waking them
    (deploy the gateway with the same ``RETOUCH_<SERVICE>_MIN_CONTAINERS`` as the services)."""
    return [service for service in SCALE_TO_ZERO_SERVICES if not min_containers(service)]


def service_token_secret() -> modal.Secret:
    """The shared ``RETOUCH_SERVICE_TOKEN``: internal services require it, the gateway sends it."""
    return modal.Secret.from_name(SERVICE_TOKEN_SECRET, required_keys=["RETOUCH_SERVICE_TOKEN"])


def gateway_secret() -> modal.Secret:
    """The gateway's public-facing configuration: API keys and CORS origins."""
    return modal.Secret.from_name(GATEWAY_SECRET, required_keys=["RETOUCH_API_KEYS"])


def proxy_auth_secret() -> modal.Secret:
    """The Modal proxy auth token the gateway presents to the internal services."""
    return modal.Secret.from_name(PROXY_AUTH_SECRET, required_keys=[PROXY_KEY_VAR, PROXY_SECRET_VAR])


def hf_secrets() -> list[modal.Secret]:
    """``HF_TOKEN`` for downloading weights, when ``RETOUCH_HF_SECRET`` names a secret holding it
    (the default weights are public: no secret is needed)."""
    name = os.environ.get("RETOUCH_HF_SECRET", "").strip()
    return [modal.Secret.from_name(name, required_keys=["HF_TOKEN"])] if name else []


def models_volume() -> modal.Volume:
    """Model weights (Qwen-Image-Edit, its LoRAs, FastSAM), filled by the ``download_weights`` entry points."""
    return modal.Volume.from_name(MODELS_VOLUME, create_if_missing=True)


def inductor_cache_volume() -> modal.Volume:
    """torch.compile's inductor cache (generation with ``RETOUCH_QWEN_COMPILE``)."""
    return modal.Volume.from_name(INDUCTOR_CACHE_VOLUME, create_if_missing=True)


def jobs_blob_volume() -> modal.Volume:
    """Result images of generation jobs (the jobs service's blob store)."""
    return modal.Volume.from_name(JOBS_BLOB_VOLUME, create_if_missing=True)


def fetch_once(target: Path, source: str, fetch: Callable[[Path], None], *, resumable: bool = False) -> bool:
    """Put ``source`` at ``target`` unless it is already there; ``True`` when it fetched.

    ``fetch(path)`` writes the file or directory at ``path``. A ``<name>.source`` file beside
    ``target``, written only after ``fetch`` returned, records where it came from: a rerun skips
    what is done and fetches again when the configured source changed. Without ``resumable`` the
    fetch writes to a scratch location with ``target``'s name and is moved into place when
    complete; a ``resumable`` fetch (one that itself skips what it already has, like
    ``huggingface_hub.snapshot_download``) writes at ``target`` directly, so an interrupted run
    continues where it stopped.
    """
    marker = target.with_name(target.name + ".source")
    if target.exists() and marker.is_file() and marker.read_text(encoding="utf-8").strip() == source:
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    marker.unlink(missing_ok=True)
    if resumable:
        fetch(target)
        if not target.exists():
            raise RuntimeError(f"fetching {source} produced nothing at {target}")
    else:
        with tempfile.TemporaryDirectory(prefix=f".{target.name}.", dir=target.parent) as scratch:
            staged = Path(scratch) / target.name
            fetch(staged)
            if not staged.exists():
                raise RuntimeError(f"fetching {source} produced nothing at {staged}")
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            else:
                target.unlink(missing_ok=True)
            staged.rename(target)
    marker.write_text(source + "\n", encoding="utf-8")
    return True
