"""A tiny model with big-lama's TorchScript contract, saved the way IOPaint ships ``big-lama.pt``.

``model(image, mask)``: ``image`` ``(1, 3, H, W)`` in 0..1 and ``mask`` ``(1, 1, H, W)`` of 0/1, sides
multiples of 8 (refused otherwise, as the real network's strided stages would break), returning the
picture with the hole filled by the mean colour of the pixels it was shown (a zero-initialised
convolution keeps it a module with weights). The mean makes the crop observable: the fill is the
colour of the crop's known pixels, not of the whole picture.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch


class TinyLama(torch.nn.Module):
    """See the module docstring."""

    def __init__(self) -> None:
        super().__init__()
        self.refine = torch.nn.Conv2d(4, 3, 3, padding=1)
        torch.nn.init.zeros_(self.refine.weight)
        torch.nn.init.zeros_(self.refine.bias)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if image.shape[2] % 8 != 0 or image.shape[3] % 8 != 0:
            raise RuntimeError("LaMa's input sides must be multiples of 8")
        known = 1.0 - mask
        mean = (image * known).sum(dim=(2, 3), keepdim=True) / known.sum(dim=(2, 3), keepdim=True).clamp(min=1.0)
        fill = mean + self.refine(torch.cat([image * known, mask], dim=1))
        return image * known + fill * mask


def save_tiny_lama(path: Path) -> Path:
    """Script :class:`TinyLama` and save it as TorchScript at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch deprecates TorchScript; big-lama.pt is one
        torch.jit.script(TinyLama()).save(str(path))
    return path
