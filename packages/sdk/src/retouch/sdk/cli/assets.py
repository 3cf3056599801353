"""``retouch assets upload|get|delete``: pictures uploaded once and named ``asset:<id>`` after.

``retouch assets upload photo.jpg`` prints the asset (its id first); any image argument of the
other commands then takes ``asset:<id>`` in place of a path, and ``retouch edit`` /
``retouch smart-mask`` upload a big picture once by themselves.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from retouch.sdk._client import Client
from retouch.sdk.cli._common import add_output, print_struct, write_output

__all__ = ["register"]


def _upload(client: Client, args: argparse.Namespace) -> int:
    asset = client.assets.upload(args.image)
    print(f"asset:{asset.asset_id}", file=sys.stderr)
    print_struct(asset)
    return 0


def _get(client: Client, args: argparse.Namespace) -> int:
    write_output(client.assets.get(_bare(args.asset_id)), args.output)
    return 0


def _delete(client: Client, args: argparse.Namespace) -> int:
    client.assets.delete(_bare(args.asset_id))
    print(f"deleted asset {_bare(args.asset_id)}", file=sys.stderr)
    return 0


def _bare(asset_id: str) -> str:
    return asset_id.removeprefix("asset:")


def register(sub: Any) -> None:
    """Add ``assets {upload,get,delete}``."""
    assets = sub.add_parser("assets", help="upload a picture once, fetch or delete it")
    action = assets.add_subparsers(dest="assets_command", metavar="ACTION", required=True)
    upload = action.add_parser("upload", help="upload a picture; prints its asset (asset:<id> on stderr)")
    upload.add_argument("image", type=Path, help="the picture to upload (streamed from disk)")
    upload.set_defaults(handler=_upload)
    get = action.add_parser("get", help="download an asset's bytes")
    get.add_argument("asset_id", help="the asset id (or asset:<id>)")
    add_output(get)
    get.set_defaults(handler=_get)
    delete = action.add_parser("delete", help="delete an asset now")
    delete.add_argument("asset_id", help="the asset id (or asset:<id>)")
    delete.set_defaults(handler=_delete)
