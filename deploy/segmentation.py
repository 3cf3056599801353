"""Segmentation ("smart mask") with FastSAM on Modal: ``modal deploy deploy/segmentation.py``.

Internal, at ``https://<workspace>--fastsam.modal.run``: a T4 by default
(``RETOUCH_SEGMENTATION_GPU`` at deploy time picks another), scales to zero, weights read from the
``retouch-models`` volume. One container takes several requests at once: decoding, the per-image
cache and post-processing overlap, while the service itself keeps model inference one at a time.
Memory snapshots keep torch and ultralytics imported across cold starts; the model is loaded onto
the GPU after restore, by the service's start-up.

Weights, once (idempotent): ``modal run deploy/segmentation.py::download_weights``.
"""

from __future__ import annotations

from pathlib import Path

import modal
from _common import (
    APP_NAMES,
    LABELS,
    MODELS_DIR,
    deploy_int,
    deploy_str,
    fetch_once,
    min_containers,
    models_volume,
    proxy_auth_enabled,
    service_token_secret,
)
from images import segmentation_image

#: Which FastSAM checkpoint (``FastSAM-x.pt``, the larger and better one, or ``FastSAM-s.pt``).
FASTSAM_MODEL = deploy_str("RETOUCH_FASTSAM_MODEL", "FastSAM-x.pt")
FASTSAM_DIR = f"{MODELS_DIR}/fastsam"
FASTSAM_WEIGHTS = f"{FASTSAM_DIR}/{FASTSAM_MODEL}"
GPU = deploy_str("RETOUCH_SEGMENTATION_GPU", "T4")

app = modal.App(APP_NAMES["segmentation"])
image = segmentation_image()
volume = models_volume()


@app.cls(
    image=image,
    gpu=GPU,
    cpu=2.0,
    memory=8192,
    volumes={MODELS_DIR: volume},
    secrets=[service_token_secret()],
    min_containers=min_containers("segmentation"),
    max_containers=deploy_int("RETOUCH_SEGMENTATION_MAX_CONTAINERS", 4, minimum=1),
    scaledown_window=deploy_int("RETOUCH_SEGMENTATION_SCALEDOWN_S", 180, minimum=2),
    timeout=300,
    enable_memory_snapshot=True,
    env={
        "RETOUCH_SEGMENTATION_ENGINE": "fastsam",
        "RETOUCH_FASTSAM_WEIGHTS": FASTSAM_WEIGHTS,
        # Explicit: nothing decides the device from what the snapshot phase (no GPU) saw.
        "RETOUCH_SEGMENTATION_DEVICE": "cuda",
        # No update checks or telemetry from ultralytics at run time.
        "YOLO_OFFLINE": "true",
    },
)
@modal.concurrent(max_inputs=8, target_inputs=4)
class FastSAMService:
    """The segmentation service on one GPU."""

    @modal.enter(snap=True)
    def import_libraries(self) -> None:
        """Captured in the memory snapshot: the heavy imports (no GPU is attached yet)."""
        import torch  # noqa: F401
        import ultralytics  # noqa: F401

        import retouch.segmentation.app  # noqa: F401

    @modal.enter(snap=False)
    def check_weights(self) -> None:
        """Say plainly, in the logs, when the weights were never provisioned."""
        if not Path(FASTSAM_WEIGHTS).is_file():
            print(
                f"FastSAM weights missing at {FASTSAM_WEIGHTS}: "
                "run `modal run deploy/segmentation.py::download_weights` once"
            )

    @modal.asgi_app(label=LABELS["segmentation"], requires_proxy_auth=proxy_auth_enabled())
    def serve(self) -> object:
        """The segmentation Starlette app (its start-up loads the model onto the GPU)."""
        from retouch.segmentation.app import create_app

        return create_app()


@app.function(image=image, volumes={MODELS_DIR: volume}, timeout=1800)
def download_weights(model: str = FASTSAM_MODEL) -> str:
    """Fetch the FastSAM checkpoint into the models volume (skipped when already there)."""
    from ultralytics.utils.downloads import attempt_download_asset

    if not model.startswith("FastSAM-") or not model.endswith(".pt"):
        raise ValueError(f"{model!r} is not a FastSAM checkpoint name (FastSAM-x.pt or FastSAM-s.pt)")
    target = Path(FASTSAM_DIR) / model

    def fetch(path: Path) -> None:
        # ultralytics knows the release that hosts its checkpoints and names the file after `path`.
        attempt_download_asset(str(path))

    fetched = fetch_once(target, f"ultralytics/assets:{model}", fetch)
    volume.commit()
    print(f"{'downloaded' if fetched else 'already present'}: {target} ({target.stat().st_size} bytes)")
    return str(target)
