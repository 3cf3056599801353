"""The options of an edit, shared by ``retouch edit`` (jobs) and ``retouch generation-run`` (direct)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["add_edit_arguments", "edit_options"]


def add_edit_arguments(parser: argparse.ArgumentParser) -> None:
    """The picture, the task and every :class:`~retouch.sdk.models.generation.GenerationRequest` option."""
    parser.add_argument("image", type=Path, help="the picture to edit")
    parser.add_argument("--task", required=True, choices=("removal", "insertion", "white-balance"))
    parser.add_argument("--mask", type=Path, help="white marks what to edit (removal, insertion)")
    parser.add_argument("--box", action="store_true", help="the mask is a box (not grown like a brush stroke)")
    parser.add_argument("--prompt", default="", help="what to do (insertion without a reference), optional otherwise")
    parser.add_argument("--reference", type=Path, help="insertion: the picture holding the object")
    parser.add_argument("--reference-mask", type=Path, help="insertion: the object's mask on --reference")
    parser.add_argument("--steps", type=int, help="denoising steps (1-100)")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--engine", help="engine override, where the deployment offers several")
    parser.add_argument("--negative-prompt")
    parser.add_argument("--guidance-scale", type=float)
    parser.add_argument("--true-cfg-scale", type=float)
    parser.add_argument("--original", action="store_true", help="work at the original resolution")
    parser.add_argument(
        "--quality", choices=["fast", "best"], help="model engines: fast (a few distilled steps) or best"
    )


def edit_options(args: argparse.Namespace) -> dict[str, Any]:
    """The request fields the options set (those left out keep the contract's defaults)."""
    pairs = {
        "num_inference_steps": args.steps,
        "seed": args.seed,
        "engine": args.engine,
        "negative_prompt": args.negative_prompt,
        "guidance_scale": args.guidance_scale,
        "true_cfg_scale": args.true_cfg_scale,
        "quality": args.quality,
    }
    options = {key: value for key, value in pairs.items() if value is not None}
    if args.original:
        options["input_quality"] = "original"
    if args.box:
        options["mask_tool_type"] = "box"
    return options
