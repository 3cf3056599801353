"""The API gateway on Modal: ``modal deploy deploy/gateway.py``.

Public at ``https://<workspace>--api-gateway.modal.run``: the single entry point (API keys, CORS,
rate limits) and the web editor at ``/``. CPU only and always on (``min_containers=1``), one
container serving many requests at once. It reaches the four internal services with the service
token and the Modal proxy auth headers (``Modal-Key`` / ``Modal-Secret``).

Where each service is: ``GENERATION_SERVICE_URL``, ``SEGMENTATION_SERVICE_URL``,
``IMAGE_UTILS_SERVICE_URL``, ``JOB_MANAGER_SERVICE_URL`` from the ``retouch-gateway`` secret or from
the shell running ``modal deploy``; any left unset is derived from the gateway's own URL, since every
app is deployed in the same workspace with the seed's labels (``...--qwen.modal.run`` and so on).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

import modal
from _common import (
    APP_NAMES,
    LABELS,
    PROXY_KEY_VAR,
    PROXY_SECRET_VAR,
    REPO_ROOT,
    deploy_env,
    deploy_int,
    gateway_secret,
    proxy_auth_enabled,
    proxy_auth_secret,
    scale_to_zero_services,
    service_token_secret,
)
from images import gateway_image

#: The seed's variables naming each service's base URL.
SERVICE_URL_VARS: dict[str, str] = {
    "generation": "GENERATION_SERVICE_URL",
    "segmentation": "SEGMENTATION_SERVICE_URL",
    "image_utils": "IMAGE_UTILS_SERVICE_URL",
    "job_manager": "JOB_MANAGER_SERVICE_URL",
}
#: The gateway setting that carries extra headers for every upstream call (``Name=value,...``).
UPSTREAM_HEADERS_VAR = "RETOUCH_UPSTREAM_HEADERS"
#: Where the web editor's static files are in the container.
WEB_DIR = "/srv/web"

_OWN_URL = re.compile(rf"^(?P<prefix>https://[^/]+?)--{re.escape(LABELS['gateway'])}\.modal\.run/?$")


def upstream_environment(environ: Mapping[str, str], own_url: str | None) -> dict[str, str]:
    """What to add to the gateway's environment before it reads its settings: the service URLs the
    deployment left unset (derived from ``own_url``), and the proxy auth headers from the proxy secret."""
    updates: dict[str, str] = {}
    match = _OWN_URL.match(own_url or "")
    for service, var in SERVICE_URL_VARS.items():
        if not environ.get(var, "").strip() and match:
            updates[var] = f"{match['prefix']}--{LABELS[service]}.modal.run"
    key, secret = environ.get(PROXY_KEY_VAR, "").strip(), environ.get(PROXY_SECRET_VAR, "").strip()
    if key and secret and not environ.get(UPSTREAM_HEADERS_VAR, "").strip():
        updates[UPSTREAM_HEADERS_VAR] = f"Modal-Key={key},Modal-Secret={secret}"
    return updates


app = modal.App(APP_NAMES["gateway"])

image = gateway_image().add_local_dir(REPO_ROOT / "apps" / "web", WEB_DIR, ignore=["**/node_modules", "**/*.test.*"])

secrets = [service_token_secret(), gateway_secret()]
if proxy_auth_enabled():
    secrets.append(proxy_auth_secret())


@app.function(
    image=image,
    cpu=1.0,
    memory=1024,
    min_containers=1,
    max_containers=deploy_int("RETOUCH_GATEWAY_MAX_CONTAINERS", 4, minimum=1),
    scaledown_window=300,
    # Event streams pass through the gateway for as long as a job runs.
    timeout=3600,
    secrets=secrets,
    env=deploy_env(
        SERVICE_URL_VARS.values(),
        fixed={"RETOUCH_SCALE_TO_ZERO": ",".join(scale_to_zero_services()), "RETOUCH_WEB_DIR": WEB_DIR},
    ),
)
@modal.concurrent(max_inputs=500, target_inputs=200)
@modal.asgi_app(label=LABELS["gateway"])
def serve() -> object:
    """The gateway's Starlette app, configured from the secrets and the environment."""
    from retouch.gateway.app import create_app

    try:
        own_url = serve.get_web_url()
    except Exception as exc:  # only a convenience: explicitly set URLs still work
        print(f"cannot read the gateway's own URL ({exc}); service URLs must be set explicitly")
        own_url = None
    os.environ.update(upstream_environment(os.environ, own_url))
    return create_app()
