"""The ``retouch`` image-utils subcommands and the sync client, against the app served on loopback."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from image_utils_helpers import decode, disk, encode, noise
from PIL import Image

from retouch.sdk import Client
from retouch.sdk.cli import main


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    image = noise(40, 60)
    mask = np.zeros((40, 60), np.uint8)
    mask[5:25, 10:30] = 255
    paths = {"image": tmp_path / "photo.png", "mask": tmp_path / "mask.png", "disk": tmp_path / "disk.png"}
    paths["image"].write_bytes(encode(image))
    paths["mask"].write_bytes(encode(mask))
    paths["disk"].write_bytes(encode(disk(64, 64, 31.5, 31.5, 12)))
    return paths


def _run(live_url: str, capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, object]:
    code = main(["--url", live_url, *argv])
    out = capsys.readouterr().out
    assert code == 0
    result: dict[str, object] = json.loads(out)
    return result


def test_extract_object(
    live_url: str, capsys: pytest.CaptureFixture[str], files: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "cutout.png"
    printed = _run(live_url, capsys, "extract-object", str(files["image"]), str(files["mask"]), "-o", str(out))
    assert printed["bbox"] == [10, 5, 30, 25]
    assert "extracted_image" not in printed
    assert decode(out.read_bytes()).shape == (20, 20, 4)


def test_mask_grow(live_url: str, capsys: pytest.CaptureFixture[str], files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "grown.png"
    printed = _run(live_url, capsys, "mask", "grow", str(files["disk"]), "--amount", "5", "-o", str(out))
    grown = decode(out.read_bytes())
    assert printed["area"] == np.count_nonzero(grown) > np.count_nonzero(disk(64, 64, 31.5, 31.5, 16))


def test_convert_takes_the_format_from_the_suffix(
    live_url: str, capsys: pytest.CaptureFixture[str], files: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "photo.webp"
    printed = _run(live_url, capsys, "convert", str(files["image"]), "--quality", "80", "-o", str(out))
    assert printed["content_type"] == "image/webp"
    assert out.read_bytes()[8:12] == b"WEBP"
    jpeg = tmp_path / "photo.bin"
    printed = _run(live_url, capsys, "convert", str(files["image"]), "--format", "jpeg", "-o", str(jpeg))
    assert jpeg.read_bytes()[:3] == b"\xff\xd8\xff"


def test_letterbox_and_back(
    live_url: str, capsys: pytest.CaptureFixture[str], files: dict[str, Path], tmp_path: Path
) -> None:
    boxed, info, back = tmp_path / "boxed.png", tmp_path / "box.json", tmp_path / "back.png"
    printed = _run(
        live_url,
        capsys,
        "letterbox",
        str(files["image"]),
        "--size",
        "64",
        "--no-upscale",
        "--info",
        str(info),
        "-o",
        str(boxed),
    )
    assert printed["letterbox"] == json.loads(info.read_text())
    _run(live_url, capsys, "unletterbox", str(boxed), "--info", str(info), "-o", str(back))
    np.testing.assert_array_equal(decode(back.read_bytes()), decode(files["image"].read_bytes()))
    # The JSON the letterbox command printed works as well.
    _run(live_url, capsys, "unletterbox", str(boxed), "--letterbox", json.dumps(printed), "-o", str(back))
    np.testing.assert_array_equal(decode(back.read_bytes()), decode(files["image"].read_bytes()))


def test_other_commands(
    live_url: str, capsys: pytest.CaptureFixture[str], files: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out.png"
    wb = _run(live_url, capsys, "white-balance", str(files["image"]), "--method", "gray-world", "-o", str(out))
    assert len(wb["gains"]) == 3  # type: ignore[arg-type]
    shadow = _run(
        live_url, capsys, "add-shadow-preview", str(files["image"]), "--mask", str(files["mask"]), "-o", str(out)
    )
    assert shadow["width"] > 60  # type: ignore[operator]
    resized = _run(live_url, capsys, "resize", str(files["image"]), "--width", "30", "-o", str(out))
    assert (resized["width"], resized["height"]) == (30, 20)
    placed = _run(
        live_url, capsys, "composite", str(files["image"]), str(files["mask"]), "--position", "3", "4", "-o", str(out)
    )
    assert placed["width"] == 60
    meta = _run(live_url, capsys, "metadata", str(files["image"]))
    assert (meta["width"], meta["height"], meta["format"]) == (60, 40, "png")


def test_errors_exit_non_zero(live_url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.png"
    bogus.write_bytes(b"not a picture")
    assert main(["--url", live_url, "metadata", str(bogus)]) == 1
    assert "image: not a recognised image" in capsys.readouterr().err


def test_sync_client_accepts_paths_bytes_and_pil_images(live_url: str, files: dict[str, Path]) -> None:
    pil_mask = Image.open(files["mask"])
    with Client(live_url) as client:
        by_path = client.image_utils.extract_object(files["image"], pil_mask)
        by_bytes = client.image_utils.extract_object(files["image"].read_bytes(), str(files["mask"]))
        assert by_path.bbox == by_bytes.bbox == [10, 5, 30, 25]
        assert by_path.extracted_image == by_bytes.extracted_image
        boxed = client.image_utils.letterbox(files["image"], size=64, upscale=False)
        back = client.image_utils.unletterbox(boxed.image, boxed.letterbox)
        assert back.image == client.image_utils.convert(files["image"], "png").image
