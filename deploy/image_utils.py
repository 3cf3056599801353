"""Image utilities on Modal: ``modal deploy deploy/image_utils.py``.

Internal, at ``https://<workspace>--image-utils.modal.run``: CPU only, scales to zero, one container
serving several requests at once (the CPU work runs in the service's bounded thread pool). Requires
the service token and, where enabled, Modal proxy auth.
"""

from __future__ import annotations

import modal
from _common import APP_NAMES, LABELS, deploy_int, min_containers, proxy_auth_enabled, service_token_secret
from images import image_utils_image

#: CPU cores a container gets; the service sizes its thread pool to match.
CPU_CORES = 2

app = modal.App(APP_NAMES["image_utils"])


@app.function(
    image=image_utils_image(),
    cpu=float(CPU_CORES),
    memory=2048,
    min_containers=min_containers("image_utils"),
    max_containers=deploy_int("RETOUCH_IMAGE_UTILS_MAX_CONTAINERS", 8, minimum=1),
    scaledown_window=120,
    timeout=300,
    secrets=[service_token_secret()],
    env={"RETOUCH_CPU_WORKERS": str(CPU_CORES)},
)
@modal.concurrent(max_inputs=16, target_inputs=8)
@modal.asgi_app(label=LABELS["image_utils"], requires_proxy_auth=proxy_auth_enabled())
def serve() -> object:
    """The image-utils Starlette app."""
    from retouch.image_utils.app import create_app

    return create_app()
