"""The smart-mask service: one engine, the per-image cache, the running requests, readiness.

A request goes through stages, and checks its cancel flag between them: decode the picture (or
find it in the cache), prepare it (the engine's prompt-independent work, shared and cached),
segment (the prompts), post-process, encode.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from typing import TypeVar

import msgspec
import numpy as np
from PIL import Image

from retouch.runtime.assets import available as assets_available
from retouch.runtime.assets import current_owner, is_asset_id
from retouch.runtime.cancel import Cancelled, CancelRegistry, CancelToken
from retouch.runtime.concurrency import run_sync
from retouch.runtime.images import ImageLimits, encode_image, open_image
from retouch.runtime.loading import BackgroundLoad
from retouch.runtime.masks import adjust_border, bbox, feather, fill_holes, to_u8
from retouch.runtime.metrics import MODEL_LOAD_SECONDS, SMART_MASK_CACHE
from retouch.runtime.problems import ProblemError, field_error
from retouch.sdk.codec import AssetRef, Base64Bytes
from retouch.sdk.models.common import Health
from retouch.sdk.models.segmentation import CancelSmartMaskResponse, SmartMaskRequest, SmartMaskResponse
from retouch.segmentation.__about__ import __version__
from retouch.segmentation.cache import ImageCache, image_id_for
from retouch.segmentation.engines import Engine, PreparedImage
from retouch.segmentation.model_type import resolve_model_type
from retouch.segmentation.prompts import Prompts, build_prompts, check_request, decode_stroke, nothing_found
from retouch.segmentation.settings import SegmentationSettings

__all__ = ["SegmentationService"]


def _cache_key(image_id: str) -> str:
    # Per caller: an image_id is a content hash (an asset id too), and knowing one must not let
    # another caller mask a picture it never sent (API.md: smart-mask requests are isolated).
    return f"{current_owner()}\n{image_id}"


log = logging.getLogger("retouch.segmentation")

T = TypeVar("T")


class _Timer:
    """Milliseconds per stage of one request."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.timings: dict[str, float] = {}

    def timed(self, stage: str, func: Callable[[], T]) -> T:
        began = time.perf_counter()
        try:
            return func()
        finally:
            self.timings[stage] = round((time.perf_counter() - began) * 1000, 3)

    def total(self) -> dict[str, float]:
        self.timings["total"] = round((time.perf_counter() - self.start) * 1000, 3)
        return self.timings


class SegmentationService:
    """What the routes call: :meth:`smart_mask`, :meth:`cancel` and :meth:`health`."""

    def __init__(self, settings: SegmentationSettings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        self.cache: ImageCache[PreparedImage] = ImageCache(settings.cache_bytes)
        self.cancels = CancelRegistry(
            busy="a request with id {id!r} is already running",
            unknown="request_id: no running smart-mask request with id {id!r}",
            field="request_id",
        )
        self.limits = ImageLimits.from_settings(settings)
        self.loader = BackgroundLoad(
            self._load_engine, what=f"the {engine.name} engine", thread_name="retouch-segmentation-load"
        )

    def _load_engine(self) -> None:
        started = time.perf_counter()
        self.engine.load()
        MODEL_LOAD_SECONDS.labels(self.engine.name).observe(time.perf_counter() - started)

    async def start(self) -> None:
        """Load the engine in the background; the service answers 503 until it is ready."""
        self.loader.start()

    def health(self) -> Health:
        """``loading`` until the engine is ready, ``unhealthy`` if it failed to load."""
        status = {"loading": "loading", "ready": "healthy", "failed": "unhealthy"}[self.loader.state]
        return Health(
            status=status,  # type: ignore[arg-type]
            service="segmentation",
            version=__version__,
            engine=self.engine.name,
            device=self.engine.device,
            ready=self.loader.state == "ready",
            detail=self.loader.error,
            engines=[self.engine.name],
        )

    def cancel(self, request_id: str) -> CancelSmartMaskResponse:
        """Stop the running request ``request_id`` at its next stage (404 when none runs)."""
        self.cancels.cancel(request_id)
        return CancelSmartMaskResponse(request_id=request_id)

    async def smart_mask(self, request: SmartMaskRequest) -> SmartMaskResponse:
        """The mask for ``request`` (4xx problems for bad input, 409 ``cancelled``, 503 while loading)."""
        self._check_ready()
        resolve_model_type(request.model_type, self.engine.name, self.engine.aliases)
        check_request(request, max_points=self.settings.max_points)
        request_id = request.request_id or uuid.uuid4().hex
        with self.cancels.register(request_id) as token:
            try:
                return await self._run(request, request_id, token)
            except Cancelled:
                log.info("smart-mask request %s cancelled", request_id)
                raise ProblemError(409, "cancelled") from None

    def _check_ready(self) -> None:
        self.loader.check_ready()

    async def _run(self, request: SmartMaskRequest, request_id: str, token: CancelToken) -> SmartMaskResponse:
        timer = _Timer()
        prepared, prompts, image_id = await self._resolve(request, token, timer)
        SMART_MASK_CACHE.labels("miss" if "prepare" in timer.timings else "hit").inc()
        token.check()
        mask, score = await run_sync(self._mask, prepared, prompts, request, token, timer)
        # _mask refuses empty masks; a feathered speck may have no pixel above 127 left.
        box = bbox(mask > 127) or bbox(mask > 0) or (0, 0, 0, 0)
        png = await run_sync(timer.timed, "encode", lambda: encode_image(Image.fromarray(mask, mode="L"), "png"))
        token.check()
        return SmartMaskResponse(
            mask_base64=Base64Bytes(png),
            image_id=image_id,
            request_id=request_id,
            score=round(score, 6),
            bbox=list(box),
            width=prepared.width,
            height=prepared.height,
            engine=self.engine.name,
            model_used=self.engine.name,
            cached="prepare" not in timer.timings,
            timings=timer.total(),
        )

    async def _resolve(
        self, request: SmartMaskRequest, token: CancelToken, timer: _Timer
    ) -> tuple[PreparedImage, Prompts, str]:
        """The prepared picture (cached, shared, or prepared now) and the prompts checked against it."""
        if request.image is None:
            assert request.image_id is not None  # check_request requires one of them
            image_id = request.image_id
            prepared = self.cache.get(_cache_key(image_id))
            pending = self.cache.pending(_cache_key(image_id)) if prepared is None else None
            if prepared is None and pending is None:
                if not (is_asset_id(image_id) and assets_available()):
                    raise field_error("image_id", f"{image_id!r} is unknown or expired; send the image again", 404)
                # An image_id is also an asset id: read the uploaded picture (a 404 if the caller
                # holds no such asset, which the client answers by sending the picture again).
                request = msgspec.structs.replace(request, image=AssetRef.of(image_id))
            else:
                if prepared is None:
                    assert pending is not None
                    prepared = await token.race(asyncio.shield(pending))
                return prepared, await self._prompts(request, prepared.width, prepared.height), image_id
        assert request.image is not None

        image_id = image_id_for(request.image)
        if request.image_id is not None and request.image_id != image_id:
            raise field_error("image_id", f"{request.image_id!r} is not the id of the image sent ({image_id!r})")
        prepared = self.cache.get(_cache_key(image_id))
        pending = self.cache.pending(_cache_key(image_id))
        if prepared is None and pending is not None:
            prepared = await token.race(asyncio.shield(pending))
        if prepared is not None:
            return prepared, await self._prompts(request, prepared.width, prepared.height), image_id

        data = request.image
        picture = await run_sync(timer.timed, "decode", lambda: self._decode(data))
        token.check()
        height, width = picture.shape[:2]
        # The prompts are checked before the costly preparation runs.
        prompts = await self._prompts(request, width, height)
        token.check()

        async def create() -> PreparedImage:
            return await run_sync(timer.timed, "prepare", lambda: self.engine.prepare(picture))

        prepared = await token.race(self.cache.get_or_create(_cache_key(image_id), create))
        return prepared, prompts, image_id

    async def _prompts(self, request: SmartMaskRequest, width: int, height: int) -> Prompts:
        stroke = None
        if request.mask is not None:
            stroke = await run_sync(decode_stroke, request.mask, width, height, self.limits)
        return build_prompts(request, width, height, stroke)

    def _decode(self, data: bytes) -> np.ndarray:
        return np.asarray(open_image(data, field="image", limits=self.limits, mode="RGB"))

    def _mask(
        self, prepared: PreparedImage, prompts: Prompts, request: SmartMaskRequest, token: CancelToken, timer: _Timer
    ) -> tuple[np.ndarray, float]:
        """Segment and post-process (in a worker thread); the final ``uint8`` mask and its score."""
        segment = timer.timed("select", lambda: self.engine.segment(prepared, prompts, token))
        token.check()
        if not segment.mask.any():
            raise nothing_found()
        hole_area = int(self.settings.hole_fraction * prepared.width * prepared.height)
        began = time.perf_counter()
        inside = adjust_border(fill_holes(segment.mask > 127, hole_area), request.border_adjustment)
        if not inside.any():
            raise field_error(
                "border_adjustment", f"shrinking by {-request.border_adjustment} pixels leaves nothing of the mask"
            )
        token.check()
        # The ramp reaches feather_radius pixels each side of the edge.
        mask = feather(inside, 2 * self.settings.feather_radius) if request.use_blur else to_u8(inside)
        timer.timings["postprocess"] = round((time.perf_counter() - began) * 1000, 3)
        return mask, segment.score
