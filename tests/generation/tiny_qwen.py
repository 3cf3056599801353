"""A tiny, randomly initialised Qwen-Image-Edit-Plus model, built offline for tests and benchmarks.

``build_tiny_qwen(directory)`` writes, under ``directory``:

- ``model/``: a ``QwenImageEditPlusPipeline`` saved with ``save_pretrained``: a two-layer
  ``QwenImageTransformer2DModel``, a small ``AutoencoderKLQwenImage``, a two-layer Qwen2.5-VL text
  encoder from a config, a byte-level BPE tokenizer (256 byte symbols, no merges, Qwen's special
  tokens), a ``Qwen2VLProcessor`` with its image and video processors, and the flow-matching
  scheduler;
- ``loras/<task>.safetensors``: one random LoRA per task on the attention projections, in the
  DiffSynth-Studio key format of the seed's LoRAs (``transformer_blocks.0.attn.to_q.lora_A.default.weight``,
  no ``transformer.`` prefix), which diffusers converts on loading;
- ``loras/lightning.safetensors``: a random LoRA in diffusers' own format standing in for
  Qwen-Image-Lightning;
- ``loras/unrelated.safetensors``: a LoRA whose keys match none of the transformer's layers.

It returns the environment that points the generation service's ``qwen`` engine at them, so the
engine loads everything through its production path (``from_pretrained`` + ``load_lora_weights``).
Nothing is downloaded. Other test folders reuse it::

    spec = importlib.util.spec_from_file_location("tiny_qwen", ROOT / "tests/generation/tiny_qwen.py")

A run of N steps at the returned working size takes roughly 10-20 ms a step on a laptop CPU, after
a fixed ~0.3 s for encoding; many steps (up to 100) make a long, cancellable run.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["TASKS", "TINY_AREA", "TINY_LORA_LAYERS", "TINY_WORKING_SIZE", "build_tiny_qwen", "tiny_qwen_env"]

TASKS = ("removal", "insertion", "white-balance")
#: The working frame the tiny model runs at (its latent grid needs multiples of 16).
TINY_WORKING_SIZE = 64
#: The pixel area the tiny model's condition latents (and so its frames) have.
TINY_AREA = 64 * 64
#: Layers each tiny LoRA touches: 2 blocks x (to_q, to_k, to_v, to_out.0).
TINY_LORA_LAYERS = 8
_SPECIAL_TOKENS = ("<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")


def _tokenizer() -> object:
    from transformers import Qwen2Tokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    # Byte-level BPE with no merges: every byte is a token, so any text encodes, offline.
    vocab = {symbol: index for index, symbol in enumerate(bytes_to_unicode().values())}
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=[])
    tokenizer.add_special_tokens({"additional_special_tokens": list(_SPECIAL_TOKENS)})
    return tokenizer


def _pipeline(seed: int, *, guidance_embeds: bool = False) -> object:
    import torch
    from diffusers import (
        AutoencoderKLQwenImage,
        FlowMatchEulerDiscreteScheduler,
        QwenImageEditPlusPipeline,
        QwenImageTransformer2DModel,
    )
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2VLImageProcessor,
        Qwen2VLProcessor,
        Qwen2VLVideoProcessor,
    )

    tokenizer = _tokenizer()
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in ("<|endoftext|>", *_SPECIAL_TOKENS)}  # type: ignore[attr-defined]
    # Few vision patches per condition picture keep the text encoder's sequence short.
    processor = Qwen2VLProcessor(
        image_processor=Qwen2VLImageProcessor(min_pixels=28 * 28 * 4, max_pixels=28 * 28 * 16),
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(),
    )
    torch.manual_seed(seed)
    transformer = QwenImageTransformer2DModel(
        patch_size=2,
        in_channels=16,
        out_channels=4,
        num_layers=2,
        attention_head_dim=16,
        num_attention_heads=3,
        joint_attention_dim=16,
        guidance_embeds=guidance_embeds,
        axes_dims_rope=(8, 4, 4),
    )
    z_dim = 4
    vae = AutoencoderKLQwenImage(
        base_dim=z_dim * 6,
        z_dim=z_dim,
        dim_mult=[1, 2, 4],
        num_res_blocks=1,
        temperal_downsample=[False, True],
        latents_mean=[0.0] * z_dim,
        latents_std=[1.0] * z_dim,
    )
    vocab_size = len(tokenizer)  # type: ignore[arg-type]
    config = Qwen2_5_VLConfig(
        text_config={
            "hidden_size": 16,
            "intermediate_size": 16,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
            "rope_scaling": {"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"},
            "rope_theta": 1000000.0,
            "vocab_size": vocab_size,
            "bos_token_id": None,
            "eos_token_id": ids["<|endoftext|>"],
        },
        vision_config={"depth": 2, "hidden_size": 16, "intermediate_size": 16, "num_heads": 2, "out_hidden_size": 16},
        hidden_size=16,
        vocab_size=vocab_size,
        bos_token_id=None,
        eos_token_id=ids["<|endoftext|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
    )
    text_encoder = Qwen2_5_VLForConditionalGeneration(config)
    return QwenImageEditPlusPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        processor=processor,
        transformer=transformer,
    )


def _write_loras(model_dir: Path, lora_dir: Path, tasks: tuple[str, ...]) -> dict[str, str]:
    import torch
    from diffusers import QwenImageEditPlusPipeline, QwenImageTransformer2DModel
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict
    from safetensors.torch import save_file

    transformer = QwenImageTransformer2DModel.from_pretrained(model_dir / "transformer")
    # Random A and B (not peft's zero B), so each adapter really changes the output.
    config = LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v", "to_out.0"], init_lora_weights=False)
    lora_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, str] = {}
    for index, task in enumerate((*tasks, "lightning")):
        torch.manual_seed(1000 + index)
        transformer.add_adapter(config, adapter_name=task)
        weights = get_peft_model_state_dict(transformer, adapter_name=task)
        if task == "lightning":
            QwenImageEditPlusPipeline.save_lora_weights(
                lora_dir, transformer_lora_layers=weights, weight_name=f"{task}.safetensors"
            )
        else:  # DiffSynth-Studio's layout, as the seed's removal_cp / insertion_cp / wb_cp
            diffsynth = {
                key.replace(".lora_A.", ".lora_A.default.").replace(".lora_B.", ".lora_B.default."): value
                for key, value in weights.items()
            }
            save_file({k: v.contiguous() for k, v in diffsynth.items()}, str(lora_dir / f"{task}.safetensors"))
        transformer.delete_adapters(task)
        paths[task] = str(lora_dir / f"{task}.safetensors")
    unrelated = {
        "single_blocks.0.linear1.lora_A.weight": torch.randn(4, 16),
        "single_blocks.0.linear1.lora_B.weight": torch.randn(16, 4),
    }
    save_file(unrelated, str(lora_dir / "unrelated.safetensors"))
    return paths


def tiny_qwen_env(directory: Path, tasks: tuple[str, ...] = TASKS) -> dict[str, str]:
    """The environment pointing the ``qwen`` engine at a tiny model already built in ``directory``
    (with LoRAs for ``tasks`` only, a subset of those built)."""
    directory = Path(directory)
    loras = ",".join(f"{task}={directory / 'loras' / f'{task}.safetensors'}" for task in tasks)
    return {
        "RETOUCH_GENERATION_ENGINE": "qwen",
        "RETOUCH_QWEN_MODEL_DIR": str(directory / "model"),
        "RETOUCH_QWEN_LORAS": loras,
        "RETOUCH_QWEN_DEVICE": "cpu",
        "RETOUCH_GENERATION_WORKING_SIZE": str(TINY_WORKING_SIZE),
        "RETOUCH_GENERATION_MAX_ORIGINAL_SIDE": "128",
        # The real model's condition sizes (1024x1024, 384x384) would make each CPU step seconds long.
        "RETOUCH_QWEN_VAE_IMAGE_AREA": str(TINY_AREA),
        "RETOUCH_QWEN_CONDITION_IMAGE_AREA": str(56 * 56),
        "RETOUCH_QWEN_MAX_SEQUENCE_LENGTH": "512",
        "RETOUCH_QWEN_LIGHTNING_LORA": str(directory / "loras" / "lightning.safetensors"),
    }


def build_tiny_qwen(directory: Path | str, *, seed: int = 0, guidance_embeds: bool = False) -> dict[str, str]:
    """Build the tiny model and one LoRA per task under ``directory``; return the ``RETOUCH_*``
    environment that configures the generation service to use them (engine ``qwen``, CPU).
    ``guidance_embeds`` writes a transformer whose config claims guidance distillation."""
    directory = Path(directory)
    model_dir = directory / "model"
    pipeline = _pipeline(seed, guidance_embeds=guidance_embeds)
    pipeline.save_pretrained(model_dir)  # type: ignore[attr-defined]
    _write_loras(model_dir, directory / "loras", TASKS)
    return tiny_qwen_env(directory)
