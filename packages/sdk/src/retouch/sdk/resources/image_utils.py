"""``client.image_utils``: the image-utils operations (``POST /api/image-utils/<op>``).

Every image argument takes a path, encoded bytes or a PIL image. The operations are pure, so
their requests are marked idempotent and retried on connection errors and 429/502/503/504.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from retouch.sdk._base import NOT_GIVEN, RequestSpec, Timeout
from retouch.sdk._codec import Base64Bytes, convert
from retouch.sdk.images import ImageInput, to_base64_bytes
from retouch.sdk.models import image_utils as m
from retouch.sdk.resources import AsyncResource, SyncResource

__all__ = ["AsyncImageUtils", "ImageUtils"]

T = TypeVar("T")

_PREFIX = "/api/image-utils"


def _spec(op: str, body: Any, cast: type[T]) -> RequestSpec:
    return RequestSpec("POST", f"{_PREFIX}/{op}", body=body, cast=cast, idempotent=True)


def _optional(image: ImageInput | None) -> Base64Bytes | None:
    return None if image is None else to_base64_bytes(image)


def _extract_object(
    image: ImageInput, mask: ImageInput, threshold: int, binary: bool, resize_mask: bool
) -> RequestSpec:
    body = m.ExtractObjectRequest(
        image=to_base64_bytes(image),
        mask=to_base64_bytes(mask),
        threshold=threshold,
        binary=binary,
        resize_mask=resize_mask,
    )
    return _spec("extract-object", body, m.ExtractObjectResponse)


def _add_shadow_preview(extracted_image: ImageInput, mask: ImageInput | None, **options: Any) -> RequestSpec:
    body = m.AddShadowPreviewRequest(extracted_image=to_base64_bytes(extracted_image), mask=_optional(mask), **options)
    return _spec("add-shadow-preview", body, m.AddShadowPreviewResponse)


def _mask(mask: ImageInput, operation: m.MaskOperation, amount: float, threshold: int) -> RequestSpec:
    body = m.MaskRequest(mask=to_base64_bytes(mask), operation=operation, amount=amount, threshold=threshold)
    return _spec("mask", body, m.MaskResponse)


def _unletterbox(
    image: ImageInput, letterbox: m.LetterboxInfo | Mapping[str, Any], **options: Any
) -> m.UnletterboxRequest:
    info = letterbox if isinstance(letterbox, m.LetterboxInfo) else convert(dict(letterbox), m.LetterboxInfo)
    return m.UnletterboxRequest(image=to_base64_bytes(image), letterbox=info, **options)


def _composite(background: ImageInput, foreground: ImageInput, mask: ImageInput | None, **options: Any) -> RequestSpec:
    body = m.CompositeRequest(
        background=to_base64_bytes(background), foreground=to_base64_bytes(foreground), mask=_optional(mask), **options
    )
    return _spec("composite", body, m.CompositeResponse)


class ImageUtils(SyncResource):
    """Image and mask operations (``/api/image-utils/*``)."""

    def extract_object(
        self,
        image: ImageInput,
        mask: ImageInput,
        *,
        threshold: int = 0,
        binary: bool = False,
        resize_mask: bool = False,
        timeout: Timeout = NOT_GIVEN,
    ) -> m.ExtractObjectResponse:
        """Cut the masked object out of ``image``: an RGBA PNG cropped to the object, and its ``bbox``.

        Mask values above ``threshold`` belong to the object; the cut-out's alpha is the mask value
        (255 with ``binary=True``). A mask of another size is refused (422) unless ``resize_mask``;
        an empty mask is a 422.
        """
        result: m.ExtractObjectResponse = self._client._send(
            _extract_object(image, mask, threshold, binary, resize_mask), timeout
        )
        return result

    def add_shadow_preview(
        self,
        extracted_image: ImageInput,
        *,
        mask: ImageInput | None = None,
        shadow_offset_x: int = 10,
        shadow_offset_y: int = 10,
        shadow_opacity: float = 0.5,
        blur_radius: float = 10.0,
        shadow_color: Sequence[int] = (0, 0, 0),
        expand: bool = True,
        resize_mask: bool = False,
        timeout: Timeout = NOT_GIVEN,
    ) -> m.AddShadowPreviewResponse:
        """The cut-out over a soft drop shadow (RGBA PNG); ``object_offset`` says where the cut-out lies.

        ``blur_radius`` is in pixels as in CSS (Gaussian sigma = radius / 2); ``shadow_opacity`` is
        0..1. With ``expand`` the canvas grows so the whole shadow fits.
        """
        spec = _add_shadow_preview(
            extracted_image,
            mask,
            shadow_offset_x=shadow_offset_x,
            shadow_offset_y=shadow_offset_y,
            shadow_opacity=shadow_opacity,
            blur_radius=blur_radius,
            shadow_color=list(shadow_color),
            expand=expand,
            resize_mask=resize_mask,
        )
        result: m.AddShadowPreviewResponse = self._client._send(spec, timeout)
        return result

    def mask(
        self,
        mask: ImageInput,
        operation: m.MaskOperation,
        *,
        amount: float = 0.0,
        threshold: int = 127,
        timeout: Timeout = NOT_GIVEN,
    ) -> m.MaskResponse:
        """``grow`` / ``shrink`` the mask's boundary by ``amount`` pixels (Euclidean), ``feather`` it
        over ``amount`` pixels, ``invert`` it, or ``threshold`` it at ``threshold``."""
        result: m.MaskResponse = self._client._send(_mask(mask, operation, amount, threshold), timeout)
        return result

    def resize(
        self,
        image: ImageInput,
        *,
        width: int | None = None,
        height: int | None = None,
        scale: float | None = None,
        keep_aspect: bool = True,
        resample: m.Resample = "lanczos",
        format: m.OutputFormat = "png",
        quality: int | None = None,
        timeout: Timeout = NOT_GIVEN,
    ) -> m.ResizeResponse:
        """Resize to ``width`` and/or ``height`` (fitting inside both with ``keep_aspect``), or by ``scale``."""
        body = m.ResizeRequest(
            image=to_base64_bytes(image),
            width=width,
            height=height,
            scale=scale,
            keep_aspect=keep_aspect,
            resample=resample,
            format=format,
            quality=quality,
        )
        result: m.ResizeResponse = self._client._send(_spec("resize", body, m.ResizeResponse), timeout)
        return result

    def letterbox(
        self,
        image: ImageInput,
        *,
        size: int | None = None,
        width: int | None = None,
        height: int | None = None,
        color: Sequence[int] = (0, 0, 0),
        resample: m.Resample = "lanczos",
        upscale: bool = True,
        format: m.OutputFormat = "png",
        quality: int | None = None,
        timeout: Timeout = NOT_GIVEN,
    ) -> m.LetterboxResponse:
        """Fit ``image`` centred in a ``size`` square (or ``width x height``) padded with ``color``.

        Pass the answer's ``letterbox`` to :meth:`unletterbox` to undo it (exact at scale 1, and at
        integer scales with ``resample="nearest"``; the size always).
        """
        body = m.LetterboxRequest(
            image=to_base64_bytes(image),
            size=size,
            width=width,
            height=height,
            color=list(color),
            resample=resample,
            upscale=upscale,
            format=format,
            quality=quality,
        )
        result: m.LetterboxResponse = self._client._send(_spec("letterbox", body, m.LetterboxResponse), timeout)
        return result

    def unletterbox(
        self,
        image: ImageInput,
        letterbox: m.LetterboxInfo | Mapping[str, Any],
        *,
        resample: m.UnletterboxResample = "auto",
        format: m.OutputFormat = "png",
        quality: int | None = None,
        timeout: Timeout = NOT_GIVEN,
    ) -> m.UnletterboxResponse:
        """Crop the picture out of a letterboxed ``image`` (any size) and restore its original size.

        ``letterbox`` is the info :meth:`letterbox` returned (the struct, or the same as a dict).
        """
        body = _unletterbox(image, letterbox, resample=resample, format=format, quality=quality)
        result: m.UnletterboxResponse = self._client._send(_spec("unletterbox", body, m.UnletterboxResponse), timeout)
        return result

    def composite(
        self,
        background: ImageInput,
        foreground: ImageInput,
        *,
        mask: ImageInput | None = None,
        position: Sequence[int] = (0, 0),
        blend: m.BlendMode = "normal",
        opacity: float = 1.0,
        resize_mask: bool = False,
        format: m.OutputFormat = "png",
        quality: int | None = None,
        timeout: Timeout = NOT_GIVEN,
    ) -> m.CompositeResponse:
        """Place ``foreground`` (its alpha, times ``mask``) on ``background`` with its top-left at ``position``."""
        spec = _composite(
            background,
            foreground,
            mask,
            position=list(position),
            blend=blend,
            opacity=opacity,
            resize_mask=resize_mask,
            format=format,
            quality=quality,
        )
        result: m.CompositeResponse = self._client._send(spec, timeout)
        return result

    def convert(
        self,
        image: ImageInput,
        format: m.OutputFormat,
        *,
        quality: int | None = None,
        timeout: Timeout = NOT_GIVEN,
    ) -> m.ConvertResponse:
        """Re-encode ``image`` as ``png``, ``webp`` or ``jpeg`` (``quality`` 1..100)."""
        body = m.ConvertRequest(image=to_base64_bytes(image), format=format, quality=quality)
        result: m.ConvertResponse = self._client._send(_spec("convert", body, m.ConvertResponse), timeout)
        return result

    def white_balance(
        self,
        image: ImageInput,
        *,
        method: m.WhiteBalanceMethod = "robust",
        strength: float = 1.0,
        percentile: float = 99.0,
        format: m.OutputFormat = "png",
        quality: int | None = None,
        timeout: Timeout = NOT_GIVEN,
    ) -> m.WhiteBalanceResponse:
        """The classic white balance (``gray-world``, ``white-patch`` or ``robust``) and its gains."""
        body = m.WhiteBalanceRequest(
            image=to_base64_bytes(image),
            method=method,
            strength=strength,
            percentile=percentile,
            format=format,
            quality=quality,
        )
        result: m.WhiteBalanceResponse = self._client._send(
            _spec("white-balance", body, m.WhiteBalanceResponse), timeout
        )
        return result

    def metadata(self, image: ImageInput, *, timeout: Timeout = NOT_GIVEN) -> m.MetadataResponse:
        """Size (as displayed), stored size, format, mode and EXIF orientation, from the header."""
        body = m.MetadataRequest(image=to_base64_bytes(image))
        result: m.MetadataResponse = self._client._send(_spec("metadata", body, m.MetadataResponse), timeout)
        return result


class AsyncImageUtils(AsyncResource):
    """Async twin of :class:`ImageUtils`."""

    async def extract_object(
        self,
        image: ImageInput,
        mask: ImageInput,
        *,
        threshold: int = 0,
        binary: bool = False,
        resize_mask: bool = False,
        timeout: Timeout = NOT_GIVEN,
    ) -> m.ExtractObjectResponse:
        """Cut the masked object out of ``image`` (see :meth:`ImageUtils.extract_object`)."""
        result: m.ExtractObjectResponse = await self._client._send(
            _extract_object(image, mask, threshold, binary, resize_mask), timeout
        )
        return result

    async def add_shadow_preview(
        self,
        extracted_image: ImageInput,
        *,
        mask: ImageInput | None = None,
        shadow_offset_x: int = 10,
        shadow_offset_y: int = 10,
        shadow_opacity: float = 0.5,
        blur_radius: float = 10.0,
        shadow_color: Sequence[int] = (0, 0, 0),
        expand: bool = True,
        resize_mask: bool = False,
        timeout: Timeout = NOT_GIVEN,
    ) -> m.AddShadowPreviewResponse:
        """The cut-out over a soft drop shadow (see :meth:`ImageUtils.add_shadow_preview`)."""
        spec = _add_shadow_preview(
            extracted_image,
            mask,
            shadow_offset_x=shadow_offset_x,
            shadow_offset_y=shadow_offset_y,
            shadow_opacity=shadow_opacity,
            blur_radius=blur_radius,
            shadow_color=list(shadow_color),
            expand=expand,
            resize_mask=resize_mask,
        )
        result: m.AddShadowPreviewResponse = await self._client._send(spec, timeout)
        return result

    async def mask(
        self,
        mask: ImageInput,
        operation: m.MaskOperation,
        *,
        amount: float = 0.0,
        threshold: int = 127,
        timeout: Timeout = NOT_GIVEN,
    ) -> m.MaskResponse:
        """Grow, shrink, feather, invert or threshold a mask (see :meth:`ImageUtils.mask`)."""
        result: m.MaskResponse = await self._client._send(_mask(mask, operation, amount, threshold), timeout)
        return result

    async def resize(
        self,
        image: ImageInput,
        *,
        width: int | None = None,
        height: int | None = None,
        scale: float | None = None,
        keep_aspect: bool = True,
        resample: m.Resample = "lanczos",
        format: m.OutputFormat = "png",
        quality: int | None = None,
        timeout: Timeout = NOT_GIVEN,
    ) -> m.ResizeResponse:
        """Resize an image (see :meth:`ImageUtils.resize`)."""
        body = m.ResizeRequest(
            image=to_base64_bytes(image),
            width=width,
            height=height,
            scale=scale,
            keep_aspect=keep_aspect,
            resample=resample,
            format=format,
            quality=quality,
        )
        result: m.ResizeResponse = await self._client._send(_spec("resize", body, m.ResizeResponse), timeout)
        return result

    async def letterbox(
        self,
        image: ImageInput,
        *,
        size: int | None = None,
        width: int | None = None,
        height: int | None = None,
        color: Sequence[int] = (0, 0, 0),
        resample: m.Resample = "lanczos",
        upscale: bool = True,
        format: m.OutputFormat = "png",
        quality: int | None = None,
        timeout: Timeout = NOT_GIVEN,
    ) -> m.LetterboxResponse:
        """Fit an image into a padded square or box (see :meth:`ImageUtils.letterbox`)."""
        body = m.LetterboxRequest(
            image=to_base64_bytes(image),
            size=size,
            width=width,
            height=height,
            color=list(color),
            resample=resample,
            upscale=upscale,
            format=format,
            quality=quality,
        )
        result: m.LetterboxResponse = await self._client._send(_spec("letterbox", body, m.LetterboxResponse), timeout)
        return result

    async def unletterbox(
        self,
        image: ImageInput,
        letterbox: m.LetterboxInfo | Mapping[str, Any],
        *,
        resample: m.UnletterboxResample = "auto",
        format: m.OutputFormat = "png",
        quality: int | None = None,
        timeout: Timeout = NOT_GIVEN,
    ) -> m.UnletterboxResponse:
        """Undo a letterbox (see :meth:`ImageUtils.unletterbox`)."""
        body = _unletterbox(image, letterbox, resample=resample, format=format, quality=quality)
        result: m.UnletterboxResponse = await self._client._send(
            _spec("unletterbox", body, m.UnletterboxResponse), timeout
        )
        return result

    async def composite(
        self,
        background: ImageInput,
        foreground: ImageInput,
        *,
        mask: ImageInput | None = None,
        position: Sequence[int] = (0, 0),
        blend: m.BlendMode = "normal",
        opacity: float = 1.0,
        resize_mask: bool = False,
        format: m.OutputFormat = "png",
        quality: int | None = None,
        timeout: Timeout = NOT_GIVEN,
    ) -> m.CompositeResponse:
        """Place a foreground on a background (see :meth:`ImageUtils.composite`)."""
        spec = _composite(
            background,
            foreground,
            mask,
            position=list(position),
            blend=blend,
            opacity=opacity,
            resize_mask=resize_mask,
            format=format,
            quality=quality,
        )
        result: m.CompositeResponse = await self._client._send(spec, timeout)
        return result

    async def convert(
        self,
        image: ImageInput,
        format: m.OutputFormat,
        *,
        quality: int | None = None,
        timeout: Timeout = NOT_GIVEN,
    ) -> m.ConvertResponse:
        """Re-encode an image (see :meth:`ImageUtils.convert`)."""
        body = m.ConvertRequest(image=to_base64_bytes(image), format=format, quality=quality)
        result: m.ConvertResponse = await self._client._send(_spec("convert", body, m.ConvertResponse), timeout)
        return result

    async def white_balance(
        self,
        image: ImageInput,
        *,
        method: m.WhiteBalanceMethod = "robust",
        strength: float = 1.0,
        percentile: float = 99.0,
        format: m.OutputFormat = "png",
        quality: int | None = None,
        timeout: Timeout = NOT_GIVEN,
    ) -> m.WhiteBalanceResponse:
        """The classic white balance (see :meth:`ImageUtils.white_balance`)."""
        body = m.WhiteBalanceRequest(
            image=to_base64_bytes(image),
            method=method,
            strength=strength,
            percentile=percentile,
            format=format,
            quality=quality,
        )
        result: m.WhiteBalanceResponse = await self._client._send(
            _spec("white-balance", body, m.WhiteBalanceResponse), timeout
        )
        return result

    async def metadata(self, image: ImageInput, *, timeout: Timeout = NOT_GIVEN) -> m.MetadataResponse:
        """Size, format, mode and EXIF orientation (see :meth:`ImageUtils.metadata`)."""
        body = m.MetadataRequest(image=to_base64_bytes(image))
        result: m.MetadataResponse = await self._client._send(_spec("metadata", body, m.MetadataResponse), timeout)
        return result
