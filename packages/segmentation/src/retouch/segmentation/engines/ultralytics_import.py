"""Importing ultralytics without the side effects a service cannot have.

ultralytics replaces ``PIL.Image.open`` for the whole process when it is imported: its wrapper
answers a file Pillow cannot identify by *installing* ``pi-heif`` from the network (or failing with
``ModuleNotFoundError``), so an upload that is not a picture became a 500 in every route of a
process that had loaded a FastSAM or MobileSAM engine, and could start a pip install at run time.
Engines call :func:`prepare` before their first ultralytics import.
"""

from __future__ import annotations

__all__ = ["prepare"]

import os


def prepare() -> None:
    """Import ultralytics with auto-install and update checks off, then give ``PIL.Image.open``
    back to Pillow (the runtime's decoder maps Pillow's own errors to 422s)."""
    # Read by ultralytics at import time: never pip-install or phone home from a service.
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    os.environ.setdefault("YOLO_OFFLINE", "true")
    from PIL import Image
    from ultralytics.utils import patches

    original = getattr(patches, "_image_open", None)
    if original is not None and Image.open is not original:
        Image.open = original
