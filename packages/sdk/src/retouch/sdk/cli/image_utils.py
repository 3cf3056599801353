"""Image-utils subcommands: ``retouch extract-object photo.png mask.png -o cutout.png`` and friends.

Each writes its image to ``-o`` and prints the answer's other fields (bbox, gains, letterbox
info, ...) as JSON on stdout.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, get_args

import msgspec

from retouch.sdk._client import Client
from retouch.sdk.cli._common import add_output, write_output
from retouch.sdk.models import image_utils as m

__all__ = ["register"]

_IMAGE_FIELDS = ("image", "extracted_image", "preview_image", "mask")
_SUFFIX_FORMATS: dict[str, m.OutputFormat] = {".png": "png", ".webp": "webp", ".jpg": "jpeg", ".jpeg": "jpeg"}


def _finish(result: msgspec.Struct, output: Path | None) -> int:
    """Write the answer's image to ``output`` and print the rest as JSON."""
    fields = msgspec.structs.asdict(result)
    for name in _IMAGE_FIELDS:
        data = fields.pop(name, None)
        if isinstance(data, bytes) and output is not None:
            write_output(data, output)
    print(json.dumps(msgspec.to_builtins(fields), indent=2))
    return 0


def _format_for(args: argparse.Namespace) -> m.OutputFormat:
    """``--format``, else the output file's suffix, else PNG."""
    if args.format:
        fmt: m.OutputFormat = args.format
        return fmt
    output: Path | None = getattr(args, "output", None)
    return _SUFFIX_FORMATS.get(output.suffix.lower(), "png") if output else "png"


def _add_format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=get_args(m.OutputFormat), help="output format (default: from -o's suffix)")
    parser.add_argument("--quality", type=int, help="WebP/JPEG quality 1..100")


# -- handlers ---------------------------------------------------------------------------------------
def _extract_object(client: Client, args: argparse.Namespace) -> int:
    result = client.image_utils.extract_object(
        args.image, args.mask, threshold=args.threshold, binary=args.binary, resize_mask=args.resize_mask
    )
    return _finish(result, args.output)


def _add_shadow_preview(client: Client, args: argparse.Namespace) -> int:
    result = client.image_utils.add_shadow_preview(
        args.image,
        mask=args.mask,
        shadow_offset_x=args.offset_x,
        shadow_offset_y=args.offset_y,
        shadow_opacity=args.opacity,
        blur_radius=args.blur_radius,
        shadow_color=args.color,
        expand=not args.no_expand,
    )
    return _finish(result, args.output)


def _mask(client: Client, args: argparse.Namespace) -> int:
    result = client.image_utils.mask(args.mask, args.operation, amount=args.amount, threshold=args.threshold)
    return _finish(result, args.output)


def _resize(client: Client, args: argparse.Namespace) -> int:
    result = client.image_utils.resize(
        args.image,
        width=args.width,
        height=args.height,
        scale=args.scale,
        keep_aspect=not args.stretch,
        resample=args.resample,
        format=_format_for(args),
        quality=args.quality,
    )
    return _finish(result, args.output)


def _letterbox(client: Client, args: argparse.Namespace) -> int:
    result = client.image_utils.letterbox(
        args.image,
        size=args.size,
        width=args.width,
        height=args.height,
        color=args.color,
        resample=args.resample,
        upscale=not args.no_upscale,
        format=_format_for(args),
        quality=args.quality,
    )
    if args.info:
        args.info.parent.mkdir(parents=True, exist_ok=True)
        args.info.write_bytes(msgspec.json.encode(result.letterbox))
    return _finish(result, args.output)


def _unletterbox(client: Client, args: argparse.Namespace) -> int:
    text = args.info.read_text() if args.info else args.letterbox
    info = json.loads(text)
    info = info.get("letterbox", info)  # the whole printed answer of `retouch letterbox` works too
    result = client.image_utils.unletterbox(
        args.image, info, resample=args.resample, format=_format_for(args), quality=args.quality
    )
    return _finish(result, args.output)


def _composite(client: Client, args: argparse.Namespace) -> int:
    result = client.image_utils.composite(
        args.background,
        args.foreground,
        mask=args.mask,
        position=args.position,
        blend=args.blend,
        opacity=args.opacity,
        resize_mask=args.resize_mask,
        format=_format_for(args),
        quality=args.quality,
    )
    return _finish(result, args.output)


def _convert(client: Client, args: argparse.Namespace) -> int:
    result = client.image_utils.convert(args.image, _format_for(args), quality=args.quality)
    return _finish(result, args.output)


def _white_balance(client: Client, args: argparse.Namespace) -> int:
    result = client.image_utils.white_balance(
        args.image,
        method=args.method,
        strength=args.strength,
        percentile=args.percentile,
        format=_format_for(args),
        quality=args.quality,
    )
    return _finish(result, args.output)


def _metadata(client: Client, args: argparse.Namespace) -> int:
    return _finish(client.image_utils.metadata(args.image), None)


# -- parsers ----------------------------------------------------------------------------------------
def register(sub: Any) -> None:
    """Add one subcommand per image-utils operation."""
    p = sub.add_parser("extract-object", help="cut the masked object out as a transparent PNG")
    p.add_argument("image", type=Path)
    p.add_argument("mask", type=Path)
    p.add_argument("--threshold", type=int, default=0, help="mask values at or below are background (default 0)")
    p.add_argument("--binary", action="store_true", help="fully opaque object instead of the mask's soft alpha")
    p.add_argument("--resize-mask", action="store_true", help="resize a mask of another size instead of failing")
    add_output(p)
    p.set_defaults(handler=_extract_object)

    p = sub.add_parser("add-shadow-preview", aliases=["shadow-preview"], help="a cut-out over a soft drop shadow")
    p.add_argument("image", type=Path, help="the cut-out (RGBA), e.g. from extract-object")
    p.add_argument("--mask", type=Path, help="object shape, when the cut-out has no alpha")
    p.add_argument("--offset-x", type=int, default=10)
    p.add_argument("--offset-y", type=int, default=10)
    p.add_argument("--opacity", type=float, default=0.5, help="0..1 (default 0.5)")
    p.add_argument("--blur-radius", type=float, default=10.0, help="pixels, as in CSS (default 10)")
    p.add_argument("--color", type=int, nargs=3, default=[0, 0, 0], metavar=("R", "G", "B"))
    p.add_argument("--no-expand", action="store_true", help="keep the cut-out's size (shadow clipped)")
    add_output(p)
    p.set_defaults(handler=_add_shadow_preview)

    p = sub.add_parser("mask", help="grow, shrink, feather, invert or threshold a mask")
    p.add_argument("operation", choices=get_args(m.MaskOperation))
    p.add_argument("mask", type=Path)
    p.add_argument("--amount", type=float, default=0.0, help="pixels (grow, shrink, feather)")
    p.add_argument("--threshold", type=int, default=127, help="0..255 (default 127)")
    add_output(p)
    p.set_defaults(handler=_mask)

    p = sub.add_parser("resize", help="resize an image")
    p.add_argument("image", type=Path)
    p.add_argument("--width", type=int)
    p.add_argument("--height", type=int)
    p.add_argument("--scale", type=float)
    p.add_argument("--stretch", action="store_true", help="do not keep the aspect ratio")
    p.add_argument("--resample", choices=get_args(m.Resample), default="lanczos")
    _add_format(p)
    add_output(p)
    p.set_defaults(handler=_resize)

    p = sub.add_parser("letterbox", help="fit an image into a padded square or box")
    p.add_argument("image", type=Path)
    p.add_argument("--size", type=int, help="side of the square canvas")
    p.add_argument("--width", type=int)
    p.add_argument("--height", type=int)
    p.add_argument("--color", type=int, nargs="+", default=[0, 0, 0], help="padding: grey, R G B or R G B A")
    p.add_argument("--resample", choices=get_args(m.Resample), default="lanczos")
    p.add_argument("--no-upscale", action="store_true", help="pad small pictures instead of enlarging them")
    p.add_argument("--info", type=Path, help="also write the letterbox info (JSON) here, for unletterbox")
    _add_format(p)
    add_output(p)
    p.set_defaults(handler=_letterbox)

    p = sub.add_parser("unletterbox", help="undo a letterbox")
    p.add_argument("image", type=Path)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--info", type=Path, help="JSON file written by `retouch letterbox --info`")
    source.add_argument("--letterbox", help="the letterbox info as a JSON string")
    p.add_argument("--resample", choices=get_args(m.UnletterboxResample), default="auto")
    _add_format(p)
    add_output(p)
    p.set_defaults(handler=_unletterbox)

    p = sub.add_parser("composite", help="place a foreground on a background")
    p.add_argument("background", type=Path)
    p.add_argument("foreground", type=Path)
    p.add_argument("--mask", type=Path, help="foreground coverage (times its alpha)")
    p.add_argument("--position", type=int, nargs=2, default=[0, 0], metavar=("X", "Y"))
    p.add_argument("--blend", choices=get_args(m.BlendMode), default="normal")
    p.add_argument("--opacity", type=float, default=1.0)
    p.add_argument("--resize-mask", action="store_true")
    _add_format(p)
    add_output(p)
    p.set_defaults(handler=_composite)

    p = sub.add_parser("convert", help="re-encode as PNG, WebP or JPEG")
    p.add_argument("image", type=Path)
    _add_format(p)
    add_output(p)
    p.set_defaults(handler=_convert)

    p = sub.add_parser("white-balance", help="classic white balance")
    p.add_argument("image", type=Path)
    p.add_argument("--method", choices=get_args(m.WhiteBalanceMethod), default="robust")
    p.add_argument("--strength", type=float, default=1.0, help="0..1 (default 1)")
    p.add_argument("--percentile", type=float, default=99.0, help="white-patch percentile (default 99)")
    _add_format(p)
    add_output(p)
    p.set_defaults(handler=_white_balance)

    p = sub.add_parser("metadata", help="size, format, mode and EXIF orientation of an image")
    p.add_argument("image", type=Path)
    p.set_defaults(handler=_metadata)
