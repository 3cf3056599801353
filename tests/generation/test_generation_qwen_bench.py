"""tests/bench/qwen_gpu.py cannot rot: it runs here on a CPU with its tiny configurations, every
variant included (regional compile with the eager backend, FP8 forced through ``torch._scaled_mm``),
and its published full-size configurations build the real architecture's shapes."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parents[2] / "tests" / "bench" / "qwen_gpu.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("qwen_gpu_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_bench_runs_every_variant_on_a_cpu_at_a_tiny_size(bench: ModuleType, tmp_path: Path) -> None:
    out = tmp_path / "qwen_gpu.json"
    argv = ["--tiny", "--device", "cpu", "--size", "64", "--repeats", "1", "--compile-backend", "eager"]
    assert bench.main([*argv, "--fp8", "on", "--peak-tflops", "1.0", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    variants = report["transformer"]["variants"]
    assert list(variants) == ["float32", "float32 + regional compile", "fp8"]
    for rows in variants.values():
        for n in ("1", "2"):
            assert rows[n]["s_per_pass"] > 0 and rows[n]["flop_bound_share"] > 0
    flops = report["transformer"]["flops_per_pass"]
    assert flops["2"] > flops["1"] > 0  # a second condition picture adds tokens
    assert report["transformer"]["fp8_layers"] > 0 and report["transformer"]["compile_s"] > 0
    for schedules in report["edit_s"].values():
        assert list(schedules) == ["28 steps x CFG", "Lightning 8 steps", "Lightning 4 steps"]
        for n in ("1", "2"):
            assert (
                schedules["28 steps x CFG"][n] > schedules["Lightning 8 steps"][n] > schedules["Lightning 4 steps"][n]
            )
    assert report["text_encoder_s"]["1"] > 0 and report["vae_s"]["2"] > 0


def test_fp8_is_skipped_where_the_device_has_none(bench: ModuleType, tmp_path: Path) -> None:
    out = tmp_path / "auto.json"
    argv = ["--tiny", "--device", "cpu", "--size", "32", "--repeats", "1", "--no-compile", "--out", str(out)]
    assert bench.main(argv) == 0
    report = json.loads(out.read_text())
    assert "fp8" not in report["transformer"]["variants"] and "FP8" in report["transformer"]["fp8_skipped"]
    assert report["transformer"]["variants"]["float32"]["1"]["flop_bound_share"] is None  # no known peak


def test_the_flop_count_matches_the_transformers_linear_layers(bench: ModuleType) -> None:
    import torch

    model = bench.build_transformer(bench.TINY_TRANSFORMER, "cpu", torch.float32)
    inputs = bench.transformer_inputs(bench.TINY_TRANSFORMER, 64, 1, "cpu", torch.float32)
    image = inputs["hidden_states"].shape[1]
    text = inputs["encoder_hidden_states"].shape[1]
    config = model.config
    inner = config.num_attention_heads * config.attention_head_dim
    # Every block: the image and text streams' attention projections and MLPs, and the attention.
    block = model.transformer_blocks[0]
    img_linear = sum(
        m.in_features * m.out_features
        for name, m in block.named_modules()
        if isinstance(m, torch.nn.Linear) and name.startswith(("attn.to_", "img_mlp", "img_mod"))
    )
    expected_min = config.num_layers * 2 * image * img_linear + config.num_layers * 4 * (image + text) ** 2 * inner
    assert bench.pass_flops(model, inputs) >= expected_min


def test_the_published_configuration_is_the_20b_qwen_image_transformer(bench: ModuleType) -> None:
    import torch

    with torch.device("meta"):
        from diffusers import QwenImageTransformer2DModel

        model = QwenImageTransformer2DModel(**bench.QWEN_IMAGE_TRANSFORMER)
    parameters = sum(p.numel() for p in model.parameters())
    assert 19e9 < parameters < 21e9
    assert bench.QWEN_IMAGE_TRANSFORMER["num_layers"] == 60 and len(model.transformer_blocks) == 60


def test_the_published_text_encoder_is_qwen2_5_vl_7b(bench: ModuleType) -> None:
    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    with torch.device("meta"):
        model = Qwen2_5_VLForConditionalGeneration(Qwen2_5_VLConfig(**bench.QWEN25_VL_7B))
    parameters = sum(p.numel() for p in model.parameters())
    assert 8.0e9 < parameters < 9.0e9  # 8.29 B with the tied-off LM head


def test_the_fp8_linear_layer_computes_what_the_linear_layer_does(bench: ModuleType) -> None:
    import torch

    torch.manual_seed(0)
    linear = torch.nn.Linear(64, 32).to(torch.bfloat16)
    fp8 = bench._fp8_module(linear)
    x = torch.randn(3, 5, 64, dtype=torch.bfloat16)
    with torch.inference_mode():
        exact, approx = linear(x).float(), fp8(x).float()
    assert approx.shape == exact.shape == (3, 5, 32)
    assert (approx - exact).norm() / exact.norm() < 0.1  # e4m3 keeps about two significant digits
