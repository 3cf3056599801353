"""Every image-utils operation on real images, through the gateway, with the SDK."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from e2e_images import HEIGHT, OBJECT_BOX, OBJECT_COLOUR, WIDTH, decode, mask, png, scene, tinted
from PIL import Image

from retouch.local import Stack
from retouch.sdk import AsyncClient, Client

pytestmark = pytest.mark.e2e

OBJECT_AREA = (OBJECT_BOX[2] - OBJECT_BOX[0]) * (OBJECT_BOX[3] - OBJECT_BOX[1])


def test_extract_object(client: Client) -> None:
    result = client.image_utils.extract_object(png(scene()), png(mask()))
    assert list(result.bbox) == list(OBJECT_BOX)
    cutout = decode(result.extracted_image)
    assert cutout.format == "PNG" and cutout.mode == "RGBA"
    assert cutout.size == (OBJECT_BOX[2] - OBJECT_BOX[0], OBJECT_BOX[3] - OBJECT_BOX[1])
    assert cutout.getpixel((2, 2)) == (*OBJECT_COLOUR, 255)
    assert (result.image_width, result.image_height) == (WIDTH, HEIGHT)
    assert result.area == OBJECT_AREA


def test_extract_object_accepts_pil_images_and_paths(client: Client, tmp_path: Path) -> None:
    path = tmp_path / "mask.png"
    mask().save(path)
    result = client.image_utils.extract_object(scene(), path)
    assert list(result.bbox) == list(OBJECT_BOX)


def test_add_shadow_preview(client: Client) -> None:
    cutout = client.image_utils.extract_object(png(scene()), png(mask())).extracted_image
    result = client.image_utils.add_shadow_preview(
        cutout, shadow_offset_x=6, shadow_offset_y=4, shadow_opacity=0.8, blur_radius=4
    )
    preview = decode(result.preview_image)
    assert preview.mode == "RGBA"
    assert (preview.width, preview.height) == (result.width, result.height)
    # The canvas grows to fit the shifted, blurred shadow.
    assert preview.width > 24 and preview.height > 24
    x, y = result.object_offset
    assert preview.getpixel((x + 2, y + 2))[:3] == OBJECT_COLOUR
    # Below-right of the object lies shadow: dark and partly opaque.
    shadow = preview.getpixel((x + 24 + 3, y + 24 + 1))
    assert shadow[3] > 0 and max(shadow[:3]) < 60


@pytest.mark.parametrize("operation", ["grow", "shrink", "feather", "invert", "threshold"])
def test_mask_operations(client: Client, operation: str) -> None:
    result = client.image_utils.mask(png(mask()), operation, amount=3)  # type: ignore[arg-type]
    out = decode(result.mask)
    assert out.size == (WIDTH, HEIGHT)
    assert out.mode == "L"
    if operation == "grow":
        assert result.area > OBJECT_AREA
        assert out.getpixel((OBJECT_BOX[0] - 2, 20)) == 255
    elif operation == "shrink":
        assert result.area < OBJECT_AREA
        assert out.getpixel((OBJECT_BOX[0] + 1, 20)) == 0
    elif operation == "feather":
        values = set(out.tobytes())
        assert len(values) > 2  # soft edge, not binary
    elif operation == "invert":
        assert result.area == WIDTH * HEIGHT - OBJECT_AREA
        assert out.getpixel((0, 0)) == 255
    else:
        assert set(out.tobytes()) <= {0, 255}
        assert result.area == OBJECT_AREA


def test_resize(client: Client) -> None:
    result = client.image_utils.resize(png(scene()), width=32)
    assert (result.width, result.height) == (32, 24)
    assert decode(result.image).size == (32, 24)


def test_letterbox_and_unletterbox_round_trip(client: Client) -> None:
    original = scene()
    boxed = client.image_utils.letterbox(png(original), size=64)
    assert (boxed.width, boxed.height) == (64, 64)
    assert decode(boxed.image).size == (64, 64)
    info = boxed.letterbox
    assert (info.original_width, info.original_height) == (WIDTH, HEIGHT)
    assert info.pad_y == 8 and info.pad_x == 0
    restored = client.image_utils.unletterbox(boxed.image, info)
    back = decode(restored.image).convert("RGB")
    assert back.size == (WIDTH, HEIGHT)
    assert back.tobytes() == original.tobytes()


def test_composite(client: Client) -> None:
    background = Image.new("RGB", (WIDTH, HEIGHT), (0, 128, 0))
    cutout = client.image_utils.extract_object(png(scene()), png(mask())).extracted_image
    result = client.image_utils.composite(png(background), cutout, position=(5, 7))
    out = decode(result.image).convert("RGB")
    assert out.size == (WIDTH, HEIGHT)
    assert out.getpixel((5 + 3, 7 + 3)) == OBJECT_COLOUR
    assert out.getpixel((1, 1)) == (0, 128, 0)


@pytest.mark.parametrize(
    ("fmt", "pil_format", "content_type"),
    [("webp", "WEBP", "image/webp"), ("jpeg", "JPEG", "image/jpeg"), ("png", "PNG", "image/png")],
)
def test_convert(client: Client, fmt: str, pil_format: str, content_type: str) -> None:
    result = client.image_utils.convert(png(scene()), fmt, quality=80)  # type: ignore[arg-type]
    image = decode(result.image)
    assert image.format == pil_format
    assert image.size == (WIDTH, HEIGHT)
    assert result.content_type == content_type


def test_white_balance_neutralises_a_cast(client: Client) -> None:
    source = tinted()
    result = client.image_utils.white_balance(png(source))
    assert len(result.gains) == 3
    out = decode(result.image).convert("RGB")
    assert out.size == source.size
    r, _g, b = out.getpixel((WIDTH // 2, HEIGHT // 2))
    r0, _g0, b0 = source.getpixel((WIDTH // 2, HEIGHT // 2))
    assert abs(r - b) < abs(r0 - b0)


def test_metadata(client: Client) -> None:
    result = client.image_utils.metadata(png(scene()))
    assert (result.width, result.height) == (WIDTH, HEIGHT)
    assert result.format.upper() == "PNG"
    assert result.has_alpha is False


async def test_async_client_through_the_gateway(async_client: AsyncClient) -> None:
    result = await async_client.image_utils.resize(png(scene()), scale=0.5)
    assert (result.width, result.height) == (WIDTH // 2, HEIGHT // 2)
    assert (await async_client.system_health()).status == "healthy"


def test_cli_against_the_gateway(stack: Stack, tmp_path: Path) -> None:
    photo, cut_mask, out = tmp_path / "photo.png", tmp_path / "mask.png", tmp_path / "cutout.png"
    scene().save(photo)
    mask().save(cut_mask)
    env = {"RETOUCH_URL": stack.gateway_url, "PATH": str(Path(sys.executable).parent)}
    retouch = str(Path(sys.executable).parent / "retouch")
    health = subprocess.run([retouch, "health"], env=env, capture_output=True, text=True, timeout=60)
    assert health.returncode == 0, health.stderr
    assert "healthy" in health.stdout
    run = subprocess.run(
        [retouch, "extract-object", str(photo), str(cut_mask), "-o", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert decode(out.read_bytes()).size == (24, 24)
    assert "bbox" in run.stdout
