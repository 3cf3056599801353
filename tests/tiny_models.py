"""Tiny models of the real formats, built by the tests themselves (nothing is downloaded).

- :func:`save_tiny_lama`: a small module with big-lama's TorchScript contract, saved the way IOPaint
  ships ``big-lama.pt``. ``model(image, mask)``: ``image`` ``(1, 3, H, W)`` in 0..1 and ``mask``
  ``(1, 1, H, W)`` of 0/1, sides multiples of 8 (refused otherwise, as the real network's strided
  stages would break), returning the picture with the hole filled by the mean colour of the pixels
  it was shown (a zero-initialised convolution keeps it a module with weights). The mean makes the
  crop observable: the fill is the colour of the crop's known pixels, not of the whole picture.
- :func:`save_random_mobile_sam`: MobileSAM's architecture (ultralytics' ``build_mobile_sam``) with
  seeded random weights, saved as ``mobile_sam.pt`` is: the ``state_dict`` of the whole model.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any


def _tiny_lama_class() -> Any:
    import torch

    class TinyLama(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.refine = torch.nn.Conv2d(4, 3, 3, padding=1)
            torch.nn.init.zeros_(self.refine.weight)
            torch.nn.init.zeros_(self.refine.bias)

        def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            if image.shape[2] % 8 != 0 or image.shape[3] % 8 != 0:
                raise RuntimeError("LaMa's input sides must be multiples of 8")
            known = 1.0 - mask
            total = known.sum(dim=(2, 3), keepdim=True).clamp(min=1.0)
            mean = (image * known).sum(dim=(2, 3), keepdim=True) / total
            fill = mean + self.refine(torch.cat([image * known, mask], dim=1))
            return image * known + fill * mask

    return TinyLama


def save_tiny_lama(path: Path) -> Path:
    """Script the tiny LaMa stand-in and save it as TorchScript at ``path``."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch deprecates TorchScript; big-lama.pt is one
        torch.jit.script(_tiny_lama_class()()).save(str(path))
    return path


def save_random_mobile_sam(path: Path, seed: int = 0) -> Path:
    """A random-weight MobileSAM checkpoint at ``path`` (the same weights for the same seed)."""
    import torch

    from retouch.segmentation.engines.ultralytics_import import prepare

    prepare()
    from ultralytics.models.sam.build import build_mobile_sam

    torch.manual_seed(seed)
    model = build_mobile_sam(None)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return path
