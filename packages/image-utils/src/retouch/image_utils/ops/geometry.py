"""Resize, letterbox and its inverse.

Letterbox round trip: the picture is pasted at integer offsets, so when its scale is 1 the
canvas holds its pixels unchanged and unletterbox crops them back bit for bit. With an integer
scale and nearest-neighbour upscaling every source pixel becomes a uniform block, which the box
filter (unletterbox's ``auto`` choice for an integer downscale) averages back exactly. Any other
scale round-trips the size exactly and the pixels up to resampling.
"""

from __future__ import annotations

from PIL import Image

from retouch.image_utils.ops._common import check_output, encode, open_keeping_alpha, resize
from retouch.runtime.images import ImageLimits
from retouch.runtime.placement import fit
from retouch.runtime.problems import field_error
from retouch.sdk.codec import Base64Bytes
from retouch.sdk.models.image_utils import (
    LetterboxInfo,
    LetterboxRequest,
    LetterboxResponse,
    ResizeRequest,
    ResizeResponse,
    UnletterboxRequest,
    UnletterboxResponse,
)

__all__ = ["letterbox", "letterbox_info", "resize_image", "target_size", "unletterbox"]


def target_size(req: ResizeRequest, width: int, height: int) -> tuple[int, int]:
    """The output size a resize request asks for, given the input size."""
    if req.scale is not None:
        if req.width is not None or req.height is not None:
            raise field_error("scale", "give either scale or width/height, not both")
        return max(1, round(width * req.scale)), max(1, round(height * req.scale))
    if req.width is None and req.height is None:
        raise field_error("width", "give width, height or scale")
    if req.width is not None and req.height is not None:
        if not req.keep_aspect:
            return req.width, req.height
        factor = min(req.width / width, req.height / height)
        return max(1, min(req.width, round(width * factor))), max(1, min(req.height, round(height * factor)))
    if req.width is not None:
        other = height if not req.keep_aspect else max(1, round(height * req.width / width))
        return req.width, other
    assert req.height is not None
    other = width if not req.keep_aspect else max(1, round(width * req.height / height))
    return other, req.height


def resize_image(req: ResizeRequest, limits: ImageLimits) -> ResizeResponse:
    """The image resized as asked (alpha and greyscale kept)."""
    image = open_keeping_alpha(req.image, "image", limits)
    size = target_size(req, image.width, image.height)
    check_output(limits, *size, "scale" if req.scale is not None else "width")
    out = resize(image, size, req.resample)
    data, content_type = encode(out, req.format, req.quality)
    return ResizeResponse(image=Base64Bytes(data), width=out.width, height=out.height, content_type=content_type)


def letterbox_info(width: int, height: int, canvas_w: int, canvas_h: int, upscale: bool = True) -> LetterboxInfo:
    """Where a ``width x height`` picture goes in a ``canvas_w x canvas_h`` letterbox."""
    placed = fit((width, height), (canvas_w, canvas_h), upscale=upscale)
    left, top, right, bottom = placed.box
    return LetterboxInfo(
        original_width=width,
        original_height=height,
        width=canvas_w,
        height=canvas_h,
        scale=placed.scale,
        pad_x=left,
        pad_y=top,
        content_width=right - left,
        content_height=bottom - top,
    )


def _fill(mode: str, colour: list[int]) -> int | tuple[int, ...]:
    if mode == "L":
        return colour[0]
    rgb = (colour * 3)[:3] if len(colour) == 1 else colour[:3]
    return (*rgb, colour[3] if len(colour) == 4 else 255) if mode == "RGBA" else tuple(rgb)


def letterbox(req: LetterboxRequest, limits: ImageLimits) -> LetterboxResponse:
    """The picture scaled to fit, centred on a padded canvas, and the box to undo it."""
    if req.size is not None and (req.width is not None or req.height is not None):
        raise field_error("size", "give either size or width/height, not both")
    if req.size is not None:
        canvas_w = canvas_h = req.size
    elif req.width is not None and req.height is not None:
        canvas_w, canvas_h = req.width, req.height
    else:
        raise field_error("size", "give size (a square) or both width and height")
    check_output(limits, canvas_w, canvas_h, "size")
    image = open_keeping_alpha(req.image, "image", limits)
    info = letterbox_info(image.width, image.height, canvas_w, canvas_h, req.upscale)
    content = resize(image, (info.content_width, info.content_height), req.resample)
    canvas = Image.new(image.mode, (canvas_w, canvas_h), _fill(image.mode, req.color))
    canvas.paste(content, (info.pad_x, info.pad_y))
    data, content_type = encode(canvas, req.format, req.quality)
    return LetterboxResponse(
        image=Base64Bytes(data), width=canvas_w, height=canvas_h, content_type=content_type, letterbox=info
    )


def _check_info(info: LetterboxInfo) -> None:
    if info.pad_x + info.content_width > info.width or info.pad_y + info.content_height > info.height:
        raise field_error("letterbox", "the content box does not fit inside the canvas")


def unletterbox(req: UnletterboxRequest, limits: ImageLimits) -> UnletterboxResponse:
    """Crop the content box (scaled to the image's actual size) and resize it to the original size."""
    info = req.letterbox
    _check_info(info)
    check_output(limits, info.original_width, info.original_height, "letterbox")
    image = open_keeping_alpha(req.image, "image", limits)
    sx, sy = image.width / info.width, image.height / info.height
    box = (
        round(info.pad_x * sx),
        round(info.pad_y * sy),
        max(round((info.pad_x + info.content_width) * sx), round(info.pad_x * sx) + 1),
        max(round((info.pad_y + info.content_height) * sy), round(info.pad_y * sy) + 1),
    )
    content = image.crop(box)
    size = (info.original_width, info.original_height)
    resample = req.resample
    if resample == "auto":
        fx, fy = content.width / size[0], content.height / size[1]
        resample = "box" if fx.is_integer() and fy.is_integer() and fx >= 1 and fy >= 1 else "lanczos"
    out = resize(content, size, resample)
    data, content_type = encode(out, req.format, req.quality)
    return UnletterboxResponse(image=Base64Bytes(data), width=out.width, height=out.height, content_type=content_type)
