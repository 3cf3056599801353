"""The image-utils contract: one request and one response per ``POST /api/image-utils/<op>``.

Images travel as base64 (a ``data:`` URL prefix is accepted). Masks are images where white
(>127) means "the object" / "edit here"; soft (grey) values are kept where an operation says so.
Boxes are ``[x_min, y_min, x_max, y_max]`` in source pixels, half-open: ``x_max - x_min`` is the
width. Every operation is pure: the same request always gives the same answer.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from retouch.sdk._codec import Base64Bytes
from retouch.sdk.models.common import RouteInfo

__all__ = [
    "ROUTES",
    "AddShadowPreviewRequest",
    "AddShadowPreviewResponse",
    "BlendMode",
    "CompositeRequest",
    "CompositeResponse",
    "ConvertRequest",
    "ConvertResponse",
    "ExtractObjectRequest",
    "ExtractObjectResponse",
    "ImageResponse",
    "LetterboxInfo",
    "LetterboxRequest",
    "LetterboxResponse",
    "MaskOperation",
    "MaskRequest",
    "MaskResponse",
    "MetadataRequest",
    "MetadataResponse",
    "OutputFormat",
    "Resample",
    "ResizeRequest",
    "ResizeResponse",
    "UnletterboxRequest",
    "UnletterboxResample",
    "UnletterboxResponse",
    "WhiteBalanceMethod",
    "WhiteBalanceRequest",
    "WhiteBalanceResponse",
]

#: Encodings an answer's image may have.
OutputFormat = Literal["png", "webp", "jpeg"]
#: Resampling filters (Pillow's).
Resample = Literal["nearest", "box", "bilinear", "bicubic", "lanczos"]
#: Like :data:`Resample`, plus ``auto`` (see :class:`UnletterboxRequest`).
UnletterboxResample = Literal["auto", "nearest", "box", "bilinear", "bicubic", "lanczos"]
#: What ``POST /api/image-utils/mask`` does to a mask.
MaskOperation = Literal["grow", "shrink", "feather", "invert", "threshold"]
#: How ``composite`` mixes the foreground into the background.
BlendMode = Literal["normal", "multiply", "screen", "seamless"]
#: The classic white-balance estimates.
WhiteBalanceMethod = Literal["gray-world", "white-patch", "robust"]

#: Longest side any size parameter may ask for (services apply their own, usually lower, limit).
MAX_SIDE = 65_536

Side = Annotated[int, msgspec.Meta(ge=1, le=MAX_SIDE)]
Quality = Annotated[int, msgspec.Meta(ge=1, le=100, description="1..100; for PNG it only trades speed for size")]
Channel = Annotated[int, msgspec.Meta(ge=0, le=255)]
Colour = Annotated[list[Channel], msgspec.Meta(min_length=1, max_length=4, description="grey, RGB or RGBA, 0..255")]
Box = Annotated[
    list[int], msgspec.Meta(min_length=4, max_length=4, description="[x_min, y_min, x_max, y_max], half-open")
]
Offset = Annotated[int, msgspec.Meta(ge=-10_000, le=10_000)]


class _Output(msgspec.Struct, kw_only=True):
    """How an operation encodes the image it returns."""

    format: OutputFormat = "png"
    #: Encoder quality for WebP/JPEG (omitted: lossless WebP, JPEG 92).
    quality: Quality | None = None


class ImageResponse(msgspec.Struct, kw_only=True):
    """An encoded image and what it is."""

    image: Base64Bytes
    width: int
    height: int
    content_type: str = "image/png"


# -- extract-object ---------------------------------------------------------------------------------
class ExtractObjectRequest(msgspec.Struct, kw_only=True):
    """Cut the masked object out of ``image`` as a transparent PNG cropped to the object."""

    image: Base64Bytes
    mask: Base64Bytes
    #: Mask values at or below this count as background (0: every non-black pixel is object).
    threshold: Channel = 0
    #: ``True``: alpha is 255 inside the object; ``False`` (default): alpha is the mask value (soft edges kept).
    binary: bool = False
    #: A mask of another size than the image is resized to it (nearest) instead of refused with a 422.
    resize_mask: bool = False


class ExtractObjectResponse(msgspec.Struct, kw_only=True):
    """The RGBA cut-out and where it came from."""

    extracted_image: Base64Bytes
    #: The cut-out's box in source pixels, ``[x_min, y_min, x_max, y_max]``, half-open.
    bbox: Box
    #: Size of the cut-out (``x_max - x_min``, ``y_max - y_min``).
    width: int
    height: int
    #: Size of the source image (after EXIF orientation).
    image_width: int
    image_height: int
    #: Pixels that belong to the object (mask above ``threshold``).
    area: int
    content_type: str = "image/png"


# -- add-shadow-preview -----------------------------------------------------------------------------
class AddShadowPreviewRequest(msgspec.Struct, kw_only=True):
    """Draw a soft drop shadow under a cut-out (the object's alpha, or ``mask``, gives its shape)."""

    extracted_image: Base64Bytes
    #: Object shape when the cut-out has no alpha (or to override it); same size as the cut-out.
    mask: Base64Bytes | None = None
    #: Shadow displacement in pixels (positive: right / down).
    shadow_offset_x: Offset = 10
    shadow_offset_y: Offset = 10
    shadow_opacity: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] = 0.5
    #: Blur of the shadow's edge in pixels, as in CSS ``box-shadow`` (Gaussian sigma = radius / 2).
    blur_radius: Annotated[float, msgspec.Meta(ge=0.0, le=500.0)] = 10.0
    shadow_color: Annotated[list[Channel], msgspec.Meta(min_length=3, max_length=3)] = msgspec.field(
        default_factory=lambda: [0, 0, 0]
    )
    #: ``True``: grow the canvas so the whole shadow fits; ``False``: keep the cut-out's size (shadow clipped).
    expand: bool = True
    resize_mask: bool = False


class AddShadowPreviewResponse(msgspec.Struct, kw_only=True):
    """The cut-out over its shadow, as an RGBA PNG."""

    preview_image: Base64Bytes
    width: int
    height: int
    #: Where the cut-out's top-left corner lies in the preview (``[x, y]``; non-zero when the canvas grew).
    object_offset: list[int]
    content_type: str = "image/png"


# -- mask -------------------------------------------------------------------------------------------
class MaskRequest(msgspec.Struct, kw_only=True):
    """One mask operation, measured in true pixels.

    - ``grow`` / ``shrink``: binarise at ``threshold``, then move the boundary out / in by ``amount``
      pixels (Euclidean distance, i.e. a disk-shaped structuring element).
    - ``feather``: binarise, then a linear ramp ``amount`` pixels wide centred on the boundary.
    - ``invert``: ``255 - value`` (soft values kept).
    - ``threshold``: 255 where the value is above ``threshold``, else 0.
    """

    mask: Base64Bytes
    operation: MaskOperation
    amount: Annotated[float, msgspec.Meta(ge=0.0, le=4096.0)] = 0.0
    threshold: Channel = 127


class MaskResponse(msgspec.Struct, kw_only=True):
    """The resulting mask (PNG, mode L)."""

    mask: Base64Bytes
    width: int
    height: int
    #: Pixels above 127 in the result.
    area: int
    content_type: str = "image/png"


# -- resize -----------------------------------------------------------------------------------------
class ResizeRequest(_Output, kw_only=True):
    """Resize to ``width`` and/or ``height``, or by ``scale``.

    With ``keep_aspect`` (default) and both sides given, the image fits inside ``width x height``;
    with one side given the other follows the aspect ratio. Alpha is kept.
    """

    image: Base64Bytes
    width: Side | None = None
    height: Side | None = None
    scale: Annotated[float, msgspec.Meta(gt=0.0, le=64.0)] | None = None
    keep_aspect: bool = True
    resample: Resample = "lanczos"


class ResizeResponse(ImageResponse, kw_only=True):
    """The resized image."""


# -- letterbox / unletterbox ------------------------------------------------------------------------
class LetterboxInfo(msgspec.Struct, kw_only=True):
    """Where the picture sits inside a letterboxed canvas: everything unletterbox needs."""

    #: Size of the picture before letterboxing.
    original_width: Side
    original_height: Side
    #: Size of the canvas.
    width: Side
    height: Side
    #: Canvas pixels per original pixel (the same on both axes up to rounding).
    scale: Annotated[float, msgspec.Meta(gt=0.0)]
    #: Left and top padding: the picture's top-left corner in the canvas.
    pad_x: Annotated[int, msgspec.Meta(ge=0)]
    pad_y: Annotated[int, msgspec.Meta(ge=0)]
    #: Size of the (resized) picture inside the canvas.
    content_width: Side
    content_height: Side


class LetterboxRequest(_Output, kw_only=True):
    """Fit ``image`` inside a ``size x size`` square (or ``width x height``), centred, padded with ``color``.

    Round trip: with ``scale == 1`` (the picture already fits and ``upscale`` is off, or it has the
    target size) unletterbox gives back the original pixels exactly, whatever ``resample``; with an
    integer ``scale`` and ``resample="nearest"`` too. The size always round-trips.
    """

    image: Base64Bytes
    size: Side | None = None
    width: Side | None = None
    height: Side | None = None
    color: Colour = msgspec.field(default_factory=lambda: [0, 0, 0])
    resample: Resample = "lanczos"
    #: ``False``: a picture smaller than the target is padded, not enlarged (``scale`` stays 1).
    upscale: bool = True


class LetterboxResponse(ImageResponse, kw_only=True):
    """The letterboxed canvas and the box info to undo it."""

    letterbox: LetterboxInfo


class UnletterboxRequest(_Output, kw_only=True):
    """Crop the picture out of a letterboxed canvas and bring it back to its original size.

    ``image`` may be the canvas at another size (a model's output): the box scales with it.
    ``resample="auto"``: no resampling when the box already has the original size, box filter for
    an integer downscale (the exact inverse of a nearest-neighbour integer upscale), else lanczos.
    """

    image: Base64Bytes
    letterbox: LetterboxInfo
    resample: UnletterboxResample = "auto"


class UnletterboxResponse(ImageResponse, kw_only=True):
    """The picture at its original size."""


# -- composite --------------------------------------------------------------------------------------
class CompositeRequest(_Output, kw_only=True):
    """Place ``foreground`` on ``background`` with its top-left corner at ``position``.

    The foreground's alpha (times ``mask`` when given, times ``opacity``) decides coverage. ``blend``:
    ``normal`` (alpha over), ``multiply``, ``screen``, or ``seamless`` (Poisson blending of the
    masked region; it must lie inside the background). Parts outside the background are clipped.
    """

    background: Base64Bytes
    foreground: Base64Bytes
    mask: Base64Bytes | None = None
    position: Annotated[list[Offset], msgspec.Meta(min_length=2, max_length=2, description="[x, y]")] = msgspec.field(
        default_factory=lambda: [0, 0]
    )
    blend: BlendMode = "normal"
    opacity: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] = 1.0
    resize_mask: bool = False


class CompositeResponse(ImageResponse, kw_only=True):
    """The background with the foreground placed on it (background's size)."""


# -- convert ----------------------------------------------------------------------------------------
class ConvertRequest(msgspec.Struct, kw_only=True):
    """Re-encode ``image`` (EXIF orientation applied). JPEG puts transparency on white."""

    image: Base64Bytes
    format: OutputFormat
    quality: Quality | None = None


class ConvertResponse(ImageResponse, kw_only=True):
    """The re-encoded image; ``content_type`` matches its bytes."""

    #: Size of the encoded image in bytes.
    size_bytes: int = 0


# -- white-balance ----------------------------------------------------------------------------------
class WhiteBalanceRequest(_Output, kw_only=True):
    """The classic, instant white balance: per-channel gains from a statistical estimate, the same
    estimate and correction as the classic engine's ``white-balance`` job (so this is its preview).

    Clipped pixels (and their surroundings) and near-black ones never vote. ``gray-world``: the
    scene averages to grey. ``white-patch``: the ``percentile``-th value of each channel is white.
    ``robust`` (the default): refined on the near-neutral pixels, half a correction when the picture
    has none. Gains are applied in linear light, keep luminance, and their spread is capped.
    ``strength`` moves the gains towards 1.
    """

    image: Base64Bytes
    method: WhiteBalanceMethod = "robust"
    strength: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] = 1.0
    percentile: Annotated[float, msgspec.Meta(ge=50.0, le=100.0)] = 99.0


class WhiteBalanceResponse(ImageResponse, kw_only=True):
    """The corrected image and the gains that were applied."""

    #: Multipliers applied to R, G, B (in linear light).
    gains: list[float]
    method: WhiteBalanceMethod = "robust"


# -- metadata ---------------------------------------------------------------------------------------
class MetadataRequest(msgspec.Struct, kw_only=True):
    """What an image is, read from its header (no pixel is decoded)."""

    image: Base64Bytes


class MetadataResponse(msgspec.Struct, kw_only=True):
    """Size as displayed (EXIF orientation applied), stored size, format and mode."""

    width: int
    height: int
    stored_width: int
    stored_height: int
    #: ``png``, ``jpeg``, ``webp``, ``gif``, ...
    format: str
    #: Pillow mode (``RGB``, ``RGBA``, ``L``, ``P``, ...).
    mode: str
    has_alpha: bool
    #: EXIF orientation tag (1 = upright; 6 = rotated 90 degrees clockwise to display).
    orientation: int = 1
    content_type: str | None = None
    size_bytes: int = 0


def _route(op: str, summary: str, request: type, response: type) -> RouteInfo:
    return RouteInfo("POST", f"/api/image-utils/{op}", "image_utils", summary, request=request, response=response)


#: Public routes of the image-utils service (API.md).
#: The image-utils service's public routes.
ROUTES: tuple[RouteInfo, ...] = (
    _route(
        "extract-object", "Cut the masked object out as a transparent PNG", ExtractObjectRequest, ExtractObjectResponse
    ),
    _route(
        "add-shadow-preview",
        "Preview a cut-out with a soft drop shadow",
        AddShadowPreviewRequest,
        AddShadowPreviewResponse,
    ),
    _route("mask", "Grow, shrink, feather, invert or threshold a mask", MaskRequest, MaskResponse),
    _route("resize", "Resize an image", ResizeRequest, ResizeResponse),
    _route("letterbox", "Fit an image into a padded square or box", LetterboxRequest, LetterboxResponse),
    _route("unletterbox", "Undo a letterbox", UnletterboxRequest, UnletterboxResponse),
    _route("composite", "Place a foreground on a background", CompositeRequest, CompositeResponse),
    _route("convert", "Re-encode as PNG, WebP or JPEG", ConvertRequest, ConvertResponse),
    _route("white-balance", "Classic white balance (instant preview)", WhiteBalanceRequest, WhiteBalanceResponse),
    _route("metadata", "Size, format, mode and EXIF orientation of an image", MetadataRequest, MetadataResponse),
)
