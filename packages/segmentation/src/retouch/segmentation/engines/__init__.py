"""Mask engines behind one protocol, chosen by ``RETOUCH_SEGMENTATION_ENGINE``.

An engine splits its work in two: :meth:`Engine.prepare` does what depends only on the picture
(the service caches its result per picture), and :meth:`Engine.segment` turns prompts into a
full-resolution mask using that prepared state. Both are blocking and run in worker threads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from retouch.runtime.cancel import CancelToken
    from retouch.segmentation.prompts import Prompts
    from retouch.segmentation.settings import SegmentationSettings

__all__ = ["ENGINES", "Engine", "PreparedImage", "Segment", "create_engine"]

#: The engines a deployment may choose from.
ENGINES = ("grabcut", "fastsam", "mobile_sam")


class PreparedImage(Protocol):
    """What an engine keeps about one picture between requests."""

    @property
    def width(self) -> int:
        """The picture's width in pixels."""
        ...

    @property
    def height(self) -> int:
        """The picture's height in pixels."""
        ...

    @property
    def nbytes(self) -> int:
        """Memory held, for the cache's budget."""
        ...


@dataclass(frozen=True, eq=False)
class Segment:
    """An engine's answer: a ``uint8`` mask (255 inside) the picture's size, and its confidence."""

    mask: np.ndarray
    score: float


class Engine(Protocol):
    """A way to turn prompts on a picture into a mask."""

    #: The engine's name (``model_type`` values it accepts are :attr:`aliases`).
    name: str

    @property
    def aliases(self) -> frozenset[str]:
        """Lower-case ``model_type`` values that mean this engine."""
        ...

    @property
    def device(self) -> str:
        """Where it runs (``cpu``, ``cuda``)."""
        ...

    def load(self) -> None:
        """Load models (blocking; called once, in the background, at start-up)."""
        ...

    def prepare(self, image: np.ndarray) -> PreparedImage:
        """The prompt-independent work on an RGB ``uint8`` picture ``(height, width, 3)``."""
        ...

    def segment(self, prepared: PreparedImage, prompts: Prompts, cancel: CancelToken) -> Segment:
        """The mask for ``prompts`` (calls ``cancel.check()`` between its stages)."""
        ...


def create_engine(settings: SegmentationSettings) -> Engine:
    """The engine ``settings`` name (heavy libraries are imported by its :meth:`Engine.load`)."""
    if settings.engine == "fastsam":
        from retouch.segmentation.engines.fastsam import FastSAMEngine

        return FastSAMEngine(settings)
    if settings.engine == "mobile_sam":
        from retouch.segmentation.engines.mobile_sam import MobileSAMEngine

        return MobileSAMEngine(settings)
    from retouch.segmentation.engines.grabcut import GrabCutEngine

    return GrabCutEngine(settings)
