"""MobileSAM's architecture with random weights, saved in the real checkpoint format.

``mobile_sam.pt`` as its publishers ship it is the ``state_dict`` of the whole model (TinyViT image
encoder, prompt encoder, mask decoder) saved with ``torch.save``; this writes the same thing for
the architecture ultralytics builds, seeded so that the weights (and so the masks) are the same on
every run. Nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path


def save_random_mobile_sam(path: Path, seed: int = 0) -> Path:
    """A random-weight MobileSAM checkpoint at ``path``."""
    import torch
    from ultralytics.models.sam.build import build_mobile_sam

    torch.manual_seed(seed)
    model = build_mobile_sam(None)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return path
