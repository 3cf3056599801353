"""``retouch smart-mask photo.png --point 120,80 --point 300,90:0 --box x0,y0,x1,y1 -o mask.png``.

``--point X,Y`` includes, ``--point X,Y:0`` excludes. The mask goes to ``-o``; the answer's other
fields (``image_id``, ``score``, ``bbox``, ...) are printed as JSON on stdout.
``retouch smart-mask-cancel REQUEST_ID`` cancels a running request.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import msgspec

from retouch.sdk._client import Client
from retouch.sdk.cli._common import add_output, print_struct, write_output

__all__ = ["parse_box", "parse_point", "register"]


def parse_point(text: str) -> tuple[float, float, int]:
    """``"X,Y"`` or ``"X,Y:LABEL"`` (label 1 include, 0 exclude) as ``(x, y, label)``."""
    coords, _, label = text.partition(":")
    parts = coords.split(",")
    try:
        if len(parts) != 2:
            raise ValueError
        x, y = float(parts[0]), float(parts[1])
        value = int(label) if label else 1
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected X,Y or X,Y:LABEL (e.g. 120,80 or 300,90:0), got {text!r}") from None
    if value not in (0, 1):
        raise argparse.ArgumentTypeError(f"a point's label is 1 (include) or 0 (exclude), got {value}")
    return x, y, value


def parse_box(text: str) -> tuple[float, float, float, float]:
    """``"X0,Y0,X1,Y1"`` as a tuple."""
    parts = text.split(",")
    try:
        if len(parts) != 4:
            raise ValueError
        x0, y0, x1, y1 = (float(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected X_MIN,Y_MIN,X_MAX,Y_MAX, got {text!r}") from None
    return x0, y0, x1, y1


def _smart_mask(client: Client, args: argparse.Namespace) -> int:
    if args.image is None and args.image_id is None:
        print("error: give the picture, or --image-id of an earlier answer", file=sys.stderr)
        return 2
    points: list[tuple[float, float, int]] = args.point or []
    result = client.segmentation.smart_mask(
        args.image,
        image_id=args.image_id,
        points=[(x, y) for x, y, _ in points] or None,
        point_labels=[label for _, _, label in points] or None,
        bbox=args.box,
        mask=args.brush,
        auto_detect=args.auto,
        border_adjustment=args.grow,
        use_blur=args.blur,
        model_type=args.model_type,
        request_id=args.request_id,
    )
    write_output(result.mask_base64, args.output)
    fields: dict[str, Any] = msgspec.structs.asdict(result)
    fields.pop("mask_base64")
    print(json.dumps(msgspec.to_builtins(fields), indent=2))
    return 0


def _cancel(client: Client, args: argparse.Namespace) -> int:
    print_struct(client.segmentation.cancel(args.request_id))
    return 0


def register(sub: Any) -> None:
    """Add ``smart-mask`` and ``smart-mask-cancel``."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "smart-mask",
        help="a mask from clicks, a box, a brush stroke or auto-detect",
        description="A mask of the object the prompts point at (POST /api/smart-mask).",
    )
    parser.add_argument("image", nargs="?", help="the picture (or use --image-id)")
    parser.add_argument("--image-id", help="the image_id of an earlier answer, instead of the picture")
    parser.add_argument(
        "--point", action="append", type=parse_point, metavar="X,Y[:LABEL]", help="a click; :0 excludes (repeatable)"
    )
    parser.add_argument("--box", type=parse_box, metavar="X0,Y0,X1,Y1", help="a box around the object")
    parser.add_argument("--brush", metavar="STROKE.png", help="a brush stroke over the object (white = painted)")
    parser.add_argument("--auto", action="store_true", help="find the main object without prompts")
    parser.add_argument(
        "--grow", type=int, default=0, metavar="PX", help="grow the mask by PX pixels (negative shrinks)"
    )
    parser.add_argument("--blur", action="store_true", help="feather the mask's edge")
    parser.add_argument("--model-type", help="the engine to require (e.g. fastsam, grabcut)")
    parser.add_argument("--request-id", help="an id to cancel the request by")
    add_output(parser)
    parser.set_defaults(handler=_smart_mask)

    cancel = sub.add_parser(
        "smart-mask-cancel", help="cancel a running smart-mask request", description="Cancel a smart-mask request."
    )
    cancel.add_argument("request_id")
    cancel.set_defaults(handler=_cancel)
