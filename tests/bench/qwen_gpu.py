"""Qwen-Image-Edit on a GPU: seconds per denoising step and per edit, from random weights.

    python tests/bench/qwen_gpu.py [--device cuda] [--size 1024] [--repeats 5]
                                   [--compile-backend inductor] [--fp8 auto|on|off] [--tiny]

Builds the full-size ``QwenImageTransformer2DModel`` (about 20 B parameters), the Qwen2.5-VL-7B
text encoder and the Qwen-Image VAE from their published configurations (written out below; nothing
is downloaded), with random bf16 weights directly on the device, and measures:

1. one transformer pass (= one denoising step without CFG) at ``--size`` x ``--size`` with 1 and 2
   condition images, in bf16; bf16 with regional compilation
   (``transformer.compile_repeated_blocks``; the compile time is reported apart); and FP8
   (per-tensor dynamic-scaled ``torch._scaled_mm`` in every linear layer of the blocks) where the
   device has FP8 (compute capability 8.9 or newer; ``--fp8 on`` forces it, e.g. on a CPU);
2. the text encoder (vision tower on the condition pictures at the pipeline's 384x384 condition size,
   and the language model over prompt plus image tokens) and the VAE (encode each condition
   picture, decode the output);
3. the whole edit: 28 steps x true CFG (two passes a step, two prompt encodings) against the
   Lightning LoRA's 8 and 4 steps without CFG, from the measured parts;
4. the share of the device's dense bf16 (or FP8) FLOP bound each transformer pass reaches: the
   linear layers' FLOPs (counted with hooks on a real pass) plus the joint attention's, divided by
   the peak, over the measured time.

Random weights compute as fast as trained ones (no data-dependent control flow in these models).
``--tiny`` runs the same code on tiny configurations (the test suite does, on a CPU, so this file
cannot rot). Prints a table and writes bench-results/qwen_gpu.json.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench-results" / "qwen_gpu.json"

#: Qwen/Qwen-Image-Edit-2509 transformer/config.json (2511 adds ``zero_cond_t``).
QWEN_IMAGE_TRANSFORMER: dict[str, Any] = {
    "patch_size": 2,
    "in_channels": 64,
    "out_channels": 16,
    "num_layers": 60,
    "attention_head_dim": 128,
    "num_attention_heads": 24,
    "joint_attention_dim": 3584,
    "guidance_embeds": False,
    "axes_dims_rope": (16, 56, 56),
}
#: Qwen/Qwen-Image-Edit-2509 text_encoder/config.json (Qwen2.5-VL-7B-Instruct).
QWEN25_VL_7B: dict[str, Any] = {
    "text_config": {
        "hidden_size": 3584,
        "intermediate_size": 18944,
        "num_hidden_layers": 28,
        "num_attention_heads": 28,
        "num_key_value_heads": 4,
        "max_position_embeddings": 128000,
        "rms_norm_eps": 1e-6,
        "rope_theta": 1000000.0,
        "rope_scaling": {"mrope_section": [16, 24, 24], "rope_type": "default", "type": "default"},
        "vocab_size": 152064,
        "hidden_act": "silu",
    },
    "vision_config": {
        "depth": 32,
        "hidden_size": 1280,
        "intermediate_size": 3420,
        "num_heads": 16,
        "out_hidden_size": 3584,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "window_size": 112,
        "fullatt_block_indexes": [7, 15, 23, 31],
        "in_chans": 3,
        "hidden_act": "silu",
    },
    "hidden_size": 3584,
    "vocab_size": 152064,
    "image_token_id": 151655,
    "video_token_id": 151656,
    "vision_start_token_id": 151652,
    "vision_end_token_id": 151653,
}
#: Qwen/Qwen-Image-Edit-2509 vae/config.json (AutoencoderKLQwenImage).
QWEN_IMAGE_VAE: dict[str, Any] = {
    "base_dim": 96,
    "z_dim": 16,
    "dim_mult": [1, 2, 4, 4],
    "num_res_blocks": 2,
    "attn_scales": [],
    "temperal_downsample": [False, True, True],
    "dropout": 0.0,
}

TINY_TRANSFORMER: dict[str, Any] = {
    **QWEN_IMAGE_TRANSFORMER,
    "in_channels": 16,
    "out_channels": 4,
    "num_layers": 2,
    "attention_head_dim": 16,
    "num_attention_heads": 2,
    "joint_attention_dim": 32,
    "axes_dims_rope": (4, 6, 6),
}
TINY_TEXT_ENCODER: dict[str, Any] = {
    **QWEN25_VL_7B,
    "text_config": {
        **QWEN25_VL_7B["text_config"],
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "rope_scaling": {"mrope_section": [2, 3, 3], "rope_type": "default", "type": "default"},
        "vocab_size": 1024,
        "bos_token_id": None,
        "eos_token_id": None,
    },
    "vision_config": {
        **QWEN25_VL_7B["vision_config"],
        "depth": 2,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_heads": 2,
        "out_hidden_size": 32,
        "fullatt_block_indexes": [1],
    },
    "hidden_size": 32,
    "vocab_size": 1024,
    "bos_token_id": None,
    "eos_token_id": None,
    "image_token_id": 1000,
    "video_token_id": 1001,
    "vision_start_token_id": 1002,
    "vision_end_token_id": 1003,
}
TINY_VAE: dict[str, Any] = {**QWEN_IMAGE_VAE, "base_dim": 8, "z_dim": 4, "dim_mult": [1, 2], "num_res_blocks": 1}

#: Dense (no sparsity) peak TFLOP/s by device, bf16 and FP8, from the vendors' data sheets (SXM parts).
PEAK_TFLOPS: dict[str, tuple[float, float | None]] = {
    "B200": (2250.0, 4500.0),
    "H200": (989.0, 1979.0),
    "H100 PCIe": (756.0, 1513.0),
    "H100": (989.0, 1979.0),
    "A100": (312.0, None),
    "L40S": (362.0, 733.0),
    "L4": (121.0, 242.0),
    "A10G": (70.0, None),
}
#: The pipeline's condition sizes: pictures for the VAE at 1024x1024, for the vision encoder at 384x384.
CONDITION_SIDE = 384
PROMPT_TOKENS = 64
#: The denoising schedules compared.
SCHEDULES = {"28 steps x CFG": (28, 2), "Lightning 8 steps": (8, 1), "Lightning 4 steps": (4, 1)}


# -- measuring ------------------------------------------------------------------------------------


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def seconds(call: Callable[[], Any], device: str, *, repeats: int, warmup: int = 1) -> float:
    """Median wall time of ``call`` over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        call()
    _sync(device)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        _sync(device)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def peak_tflops(device: str, override: float | None = None) -> tuple[str, float | None, float | None]:
    """The device's name and its dense bf16 and FP8 peaks (``None`` where unknown; ``override``
    sets both, e.g. for a device missing from :data:`PEAK_TFLOPS`)."""
    import torch

    if override is not None:
        return (
            (torch.cuda.get_device_name(torch.device(device)) if device.startswith("cuda") else "cpu"),
            override,
            override,
        )
    if not device.startswith("cuda"):
        return platform.processor() or "cpu", None, None
    name = torch.cuda.get_device_name(torch.device(device))
    for key, (bf16, fp8) in PEAK_TFLOPS.items():
        if all(part in name for part in key.split()):
            return name, bf16, fp8
    return name, None, None


def has_fp8(device: str) -> bool:
    """Whether the device multiplies FP8 in hardware (Ada, Hopper, Blackwell)."""
    import torch

    return device.startswith("cuda") and torch.cuda.get_device_capability(torch.device(device)) >= (8, 9)


# -- the models -----------------------------------------------------------------------------------


@contextlib.contextmanager
def _default_dtype(dtype: Any) -> Iterator[None]:
    import torch

    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def build_transformer(config: dict[str, Any], device: str, dtype: Any) -> Any:
    """The transformer with random weights, created on ``device`` in ``dtype`` (no host copy)."""
    import torch
    from diffusers import QwenImageTransformer2DModel

    with torch.device(device), _default_dtype(dtype):
        model = QwenImageTransformer2DModel(**config)
    return model.eval().requires_grad_(False)


def transformer_inputs(config: dict[str, Any], side: int, conditions: int, device: str, dtype: Any) -> dict[str, Any]:
    """One denoising step's inputs: the output latents and ``conditions`` condition latents of a
    ``side`` x ``side`` picture (VAE factor 8, patch 2), and the encoded prompt with image tokens."""
    import torch

    grid = side // 8 // config["patch_size"]
    tokens = grid * grid
    channels = config["in_channels"]
    image_tokens = conditions * ((CONDITION_SIDE // 28) ** 2)  # merged 2x2 patches of 14 px
    text = PROMPT_TOKENS + image_tokens
    return {
        "hidden_states": torch.randn(1, tokens * (1 + conditions), channels, device=device, dtype=dtype),
        "encoder_hidden_states": torch.randn(1, text, config["joint_attention_dim"], device=device, dtype=dtype),
        "encoder_hidden_states_mask": torch.ones(1, text, device=device, dtype=torch.long),
        "timestep": torch.tensor([0.5], device=device, dtype=dtype),
        "img_shapes": [[(1, grid, grid)] * (1 + conditions)],
        "return_dict": False,
    }


def pass_flops(model: Any, inputs: dict[str, Any]) -> float:
    """FLOPs of one transformer pass: every linear layer's (counted on a real pass) plus the joint
    attention's two matrix products in every block."""
    import torch

    counted = [0.0]

    def count(module: torch.nn.Linear, args: tuple[Any, ...], _output: Any) -> None:
        rows = args[0].numel() // module.in_features
        counted[0] += 2.0 * rows * module.in_features * module.out_features

    handles = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, torch.nn.Linear)]
    try:
        with torch.inference_mode():
            model(**inputs)
    finally:
        for handle in handles:
            handle.remove()
    config = model.config
    length = inputs["hidden_states"].shape[1] + inputs["encoder_hidden_states"].shape[1]
    inner = config.num_attention_heads * config.attention_head_dim
    attention = config.num_layers * 2 * (2.0 * length * length * inner)
    return counted[0] + attention


class FP8Linear:
    """A linear layer computing in FP8 (e4m3): the weight quantised once with a per-tensor scale,
    the input per call (dynamic scaling), the product by ``torch._scaled_mm`` in bf16."""

    @staticmethod
    def replace(model: Any) -> int:
        """Swap every eligible ``nn.Linear`` inside the repeated blocks for an FP8 one; returns how many."""
        import torch

        count = 0
        for block in model.transformer_blocks:
            for name, module in list(block.named_modules()):
                if not isinstance(module, torch.nn.Linear) or module.in_features % 16 or module.out_features % 16:
                    continue
                parent = block.get_submodule(name.rsplit(".", 1)[0]) if "." in name else block
                setattr(parent, name.rsplit(".", 1)[-1], _fp8_module(module))
                count += 1
        return count


def _fp8_module(linear: Any) -> Any:
    """An FP8 twin of ``linear`` (which it does not keep: its bf16 weight can be freed)."""
    return _fp8_class()(linear)


@functools.cache
def _fp8_class() -> type:
    import torch

    fp8 = torch.float8_e4m3fn
    limit = torch.finfo(fp8).max

    class _FP8(torch.nn.Module):
        def __init__(self, linear: torch.nn.Linear) -> None:
            super().__init__()
            weight = linear.weight.detach()
            scale = weight.abs().amax().float().clamp(min=1e-12) / limit
            # Row-major (out, in): its transpose is the column-major second operand _scaled_mm needs.
            self.register_buffer("weight_fp8", (weight.float() / scale).to(fp8).contiguous())
            self.register_buffer("weight_scale", scale)
            self.bias = linear.bias
            self.out_features = linear.out_features

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            shape = x.shape
            flat = x.reshape(-1, shape[-1])
            scale = flat.abs().amax().float().clamp(min=1e-12) / limit
            quantised = (flat.float() / scale).to(fp8)
            out_dtype = x.dtype if x.dtype != torch.float32 else torch.bfloat16
            bias = self.bias.to(out_dtype) if self.bias is not None else None
            out = torch._scaled_mm(
                quantised, self.weight_fp8.t(), scale_a=scale, scale_b=self.weight_scale, out_dtype=out_dtype, bias=bias
            )
            return out.to(x.dtype).reshape(*shape[:-1], self.out_features)

    return _FP8


def _uncompile(model: Any) -> None:
    for module in model.modules():
        if getattr(module, "_compiled_call_impl", None) is not None:
            module._compiled_call_impl = None


def bench_transformer(
    config: dict[str, Any],
    *,
    device: str,
    dtype: Any,
    side: int,
    repeats: int,
    compile_backend: str | None,
    fp8: bool,
    peak_override: float | None = None,
) -> dict[str, Any]:
    """Seconds per pass (and share of the FLOP bound) for each variant and condition count."""
    import torch

    model = build_transformer(config, device, dtype)
    _name, peak_bf16, peak_fp8 = peak_tflops(device, peak_override)
    base = "bf16" if dtype == torch.bfloat16 else str(dtype).removeprefix("torch.")
    inputs = {n: transformer_inputs(config, side, n, device, dtype) for n in (1, 2)}
    flops = {n: pass_flops(model, inputs[n]) for n in (1, 2)}
    results: dict[str, Any] = {"flops_per_pass": flops, "variants": {}}

    def measure(variant: str, peak: float | None) -> None:
        rows = {}
        for n in (1, 2):
            with torch.inference_mode():
                spent = seconds(lambda n=n: model(**inputs[n]), device, repeats=repeats)
            bound = flops[n] / (peak * 1e12) if peak else None
            rows[n] = {"s_per_pass": spent, "flop_bound_share": bound / spent if bound else None}
        results["variants"][variant] = rows

    measure(base, peak_bf16)
    if compile_backend:
        model.compile_repeated_blocks(fullgraph=True, dynamic=True, backend=compile_backend)  # as the engine does
        started = time.perf_counter()
        with torch.inference_mode():
            for n in (1, 2):
                model(**inputs[n])
        _sync(device)
        results["compile_s"] = time.perf_counter() - started
        measure(f"{base} + regional compile", peak_bf16)
        _uncompile(model)
    if fp8:
        results["fp8_layers"] = FP8Linear.replace(model)
        measure("fp8", peak_fp8)
    else:
        results["fp8_skipped"] = "the device has no FP8 (compute capability < 8.9)"
    model = None  # free the weights before the next model is built
    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return results


def bench_text_encoder(config: dict[str, Any], *, device: str, dtype: Any, repeats: int) -> dict[int, float]:
    """Seconds to encode a prompt with 1 and 2 condition pictures (vision tower + language model)."""
    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    with torch.device(device), _default_dtype(dtype):
        model = Qwen2_5_VLForConditionalGeneration(Qwen2_5_VLConfig(**config)).eval().requires_grad_(False)
    inner = getattr(model, "model", model)
    visual = getattr(inner, "visual", None) or model.visual
    language = getattr(inner, "language_model", None) or inner
    vision = config["vision_config"]
    patches_side = CONDITION_SIDE // vision["patch_size"]
    patches_side -= patches_side % vision["spatial_merge_size"]
    channels = vision["in_chans"] * vision["temporal_patch_size"] * vision["patch_size"] ** 2
    out: dict[int, float] = {}
    for n in (1, 2):
        grid = torch.tensor([[1, patches_side, patches_side]] * n, device=device)
        pixels = torch.randn(n * patches_side * patches_side, channels, device=device, dtype=dtype)
        image_tokens = n * (patches_side // vision["spatial_merge_size"]) ** 2
        embeds = torch.randn(
            1, PROMPT_TOKENS + image_tokens, config["text_config"]["hidden_size"], device=device, dtype=dtype
        )

        def encode(grid: Any = grid, pixels: Any = pixels, embeds: Any = embeds) -> None:
            with torch.inference_mode():
                visual(pixels, grid_thw=grid)
                language(inputs_embeds=embeds)

        out[n] = seconds(encode, device, repeats=repeats)
    del model
    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return out


def bench_vae(config: dict[str, Any], *, device: str, dtype: Any, side: int, repeats: int) -> dict[int, float]:
    """Seconds to encode 1 or 2 condition pictures and decode one output."""
    import torch
    from diffusers import AutoencoderKLQwenImage

    with torch.device(device), _default_dtype(dtype):
        vae = AutoencoderKLQwenImage(**config).eval().requires_grad_(False)
    scale = 2 ** len(config["temperal_downsample"])
    picture = torch.randn(1, 3, 1, side, side, device=device, dtype=dtype)
    latent = torch.randn(1, config["z_dim"], 1, side // scale, side // scale, device=device, dtype=dtype)
    out: dict[int, float] = {}
    for n in (1, 2):

        def roundtrip(n: int = n) -> None:
            with torch.inference_mode():
                for _ in range(n):
                    vae.encode(picture)
                vae.decode(latent)

        out[n] = seconds(roundtrip, device, repeats=max(1, repeats // 2))
    vae = None
    gc.collect()
    return out


def whole_edits(
    per_pass: dict[int, float], text: dict[int, float], vae: dict[int, float]
) -> dict[str, dict[int, float]]:
    """Seconds per edit for each schedule: prompt encodings (two with CFG), VAE, and the passes."""
    edits: dict[str, dict[int, float]] = {}
    for name, (steps, passes) in SCHEDULES.items():
        edits[name] = {n: passes * text[n] + vae[n] + steps * passes * per_pass[n] for n in (1, 2)}
    return edits


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every measurement, as one JSON-able dict."""
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.bfloat16 if device.startswith("cuda") or not args.tiny else torch.float32
    transformer_config = TINY_TRANSFORMER if args.tiny else QWEN_IMAGE_TRANSFORMER
    fp8 = args.fp8 == "on" or (args.fp8 == "auto" and has_fp8(device))
    name, peak_bf16, peak_fp8 = peak_tflops(device, args.peak_tflops)
    report: dict[str, Any] = {
        "device": name,
        "peak_tflops": {"bf16": peak_bf16, "fp8": peak_fp8},
        "size": args.size,
        "tiny": args.tiny,
        "torch": torch.__version__,
    }
    report["transformer"] = bench_transformer(
        transformer_config,
        device=device,
        dtype=dtype,
        side=args.size,
        repeats=args.repeats,
        compile_backend=None if args.no_compile else args.compile_backend,
        fp8=fp8,
        peak_override=args.peak_tflops,
    )
    text = bench_text_encoder(
        TINY_TEXT_ENCODER if args.tiny else QWEN25_VL_7B, device=device, dtype=dtype, repeats=args.repeats
    )
    vae = bench_vae(
        TINY_VAE if args.tiny else QWEN_IMAGE_VAE, device=device, dtype=dtype, side=args.size, repeats=args.repeats
    )
    report["text_encoder_s"] = text
    report["vae_s"] = vae
    variants = report["transformer"]["variants"]
    report["edit_s"] = {
        variant: whole_edits({n: rows[n]["s_per_pass"] for n in (1, 2)}, text, vae)
        for variant, rows in variants.items()
    }
    baseline = next(iter(report["edit_s"].values()))["28 steps x CFG"]
    report["edit_speedup_vs_28_cfg"] = {
        variant: {schedule: {n: baseline[n] / t[n] for n in (1, 2)} for schedule, t in schedules.items()}
        for variant, schedules in report["edit_s"].items()
    }
    return report


def table(report: dict[str, Any]) -> str:
    """The report as a printable table."""
    lines = [
        f"Qwen-Image-Edit on {report['device']} at {report['size']}x{report['size']}{' (tiny)' if report['tiny'] else ''}"
    ]
    lines.append(f"{'variant':26} {'conds':>5} {'s/pass':>10} {'FLOP-bound share':>17}")
    for variant, rows in report["transformer"]["variants"].items():
        for n, row in rows.items():
            share = row["flop_bound_share"]
            lines.append(f"{variant:26} {n:>5} {row['s_per_pass']:>10.4f} {f'{share:.2f}' if share else 'n/a':>17}")
    if "compile_s" in report["transformer"]:
        lines.append(f"regional compile took {report['transformer']['compile_s']:.1f} s (first calls)")
    if "fp8_skipped" in report["transformer"]:
        lines.append(f"fp8: skipped, {report['transformer']['fp8_skipped']}")
    lines.append(f"{'whole edit (variant, schedule)':44} {'1 cond s':>9} {'2 conds s':>9} {'x vs 28xCFG':>11}")
    for variant, schedules in report["edit_s"].items():
        for schedule, t in schedules.items():
            speedup = report["edit_speedup_vs_28_cfg"][variant][schedule][1]
            lines.append(f"{variant + ', ' + schedule:44} {t[1]:>9.3f} {t[2]:>9.3f} {speedup:>11.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run, print the table, write the JSON."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--device", help="cuda (default when available), cuda:1, cpu")
    parser.add_argument("--size", type=int, default=1024, help="output side in pixels (multiple of 16)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--compile-backend", default="inductor")
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--fp8", choices=["auto", "on", "off"], default="auto")
    parser.add_argument("--tiny", action="store_true", help="tiny configurations (the test suite's CPU run)")
    parser.add_argument("--peak-tflops", type=float, help="the device's dense peak, where the table lacks it")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.size % 16:
        parser.error("--size must be a multiple of 16")
    report = run(args)
    print(table(report))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
