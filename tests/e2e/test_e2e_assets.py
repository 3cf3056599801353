"""Assets through the gateway on the real local stack: a picture uploaded once and referred to by
smart mask and jobs, results as assets, owner isolation, and a big upload streamed through."""

from __future__ import annotations

import base64
import hashlib
import io
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from e2e_config import API_KEYS, MAX_BODY_BYTES
from e2e_images import OBJECT_BOX, decode, mask, png, scene
from PIL import Image

from retouch.local import Stack
from retouch.sdk import Client, NotFoundError
from retouch.sdk.models.assets import Asset

pytestmark = pytest.mark.e2e


def _photo() -> Image.Image:
    from skimage import data

    return Image.fromarray(data.astronaut())


def test_a_picture_is_sent_once_then_referred_to_by_smart_mask_and_jobs(client: Client) -> None:
    picture = png(scene())
    asset = client.assets.upload(picture)
    assert asset.asset_id == hashlib.sha256(picture).hexdigest()[:32]
    assert (asset.width, asset.height, asset.format) == (scene().width, scene().height, "png")
    x = (OBJECT_BOX[0] + OBJECT_BOX[2]) // 2
    y = (OBJECT_BOX[1] + OBJECT_BOX[3]) // 2
    # The asset id is smart-mask's image_id: the first click names it, nothing is sent again.
    first = client.smart_mask(image_id=asset.asset_id, points=[[x, y]])
    assert first.image_id == asset.asset_id
    truth = np.asarray(mask()) > 127
    found = np.asarray(decode(bytes(first.mask_base64)).convert("L")) > 127
    assert float((found & truth).sum() / (found | truth).sum()) > 0.8
    also = client.smart_mask(f"asset:{asset.asset_id}", points=[[x, y]])
    assert also.image_id == asset.asset_id
    # A job on the asset; its result is an asset the next job runs on (edits stack).
    result = client.edit(f"asset:{asset.asset_id}", task_type="removal", mask=png(mask()))
    assert result.status == "done" and result.image_asset is not None
    assert client.assets.get(result.image_asset) == bytes(result.image)
    again = client.edit(f"asset:{result.image_asset}", task_type="removal", mask=png(mask()))
    assert again.status == "done" and (again.width, again.height) == (scene().width, scene().height)


def test_a_real_photo_over_the_body_limit_goes_as_an_asset(client: Client, stack: Stack) -> None:
    photo = _photo().resize((1400, 1400))
    buf = io.BytesIO()
    photo.save(buf, format="PNG", compress_level=0)
    data = buf.getvalue()
    assert len(data) > MAX_BODY_BYTES  # inline, this picture is refused
    inline = httpx.post(f"{stack.gateway_url}/api/smart-mask", json={"image": "x" * (MAX_BODY_BYTES + 1)}, timeout=30)
    assert inline.status_code == 413
    asset = client.assets.upload(data)
    answer = client.smart_mask(image_id=asset.asset_id, bbox=[500, 200, 900, 700])
    assert decode(bytes(answer.mask_base64)).size == (1400, 1400)


def test_assets_are_isolated_between_keys(keyed_gateway: str) -> None:
    one, two = (Client(keyed_gateway, api_key=key, max_retries=0, timeout=60) for key in API_KEYS)
    with one, two:
        asset = one.assets.upload(png(scene()))
        assert one.assets.get(asset.asset_id) == png(scene())
        with pytest.raises(NotFoundError):
            two.assets.get(asset.asset_id)
        with pytest.raises(NotFoundError):
            two.smart_mask(image_id=asset.asset_id, points=[[30, 20]])
        with pytest.raises(NotFoundError):
            two.smart_mask(f"asset:{asset.asset_id}", points=[[30, 20]])
        with pytest.raises(NotFoundError):
            two.edit(f"asset:{asset.asset_id}", task_type="removal", mask=png(mask()))
        with pytest.raises(NotFoundError):
            two.assets.delete(asset.asset_id)
        one.assets.delete(asset.asset_id)
        with pytest.raises(NotFoundError):
            one.assets.get(asset.asset_id)


def _rss_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def _reset_peak(pid: int) -> bool:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class _Sampler:
    """The largest RSS of some processes, sampled every few milliseconds (where VmHWM cannot be
    reset, the sampled maximum still bounds the growth)."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.peak = {name: _rss_kb(pid, "VmRSS") for name, pid in pids.items()}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(0.005):
            for name, pid in self.pids.items():
                self.peak[name] = max(self.peak[name], _rss_kb(pid, "VmRSS"))

    def __enter__(self) -> _Sampler:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def test_a_64_mib_picture_streams_through_without_the_services_holding_it(stack: Stack, tmp_path: Path) -> None:
    # Noise stored uncompressed: a real 72 MB PNG within the 50 MP limit.
    rng = np.random.default_rng(7)
    path = tmp_path / "big.png"
    Image.fromarray(rng.integers(0, 256, (4900, 4900, 3), dtype=np.uint8)).save(path, compress_level=0)
    size = path.stat().st_size
    assert size > 64 * 1024 * 1024
    pids = {name: stack.processes[name].pid for name in ("gateway", "job_manager")}
    assert all(pid is not None for pid in pids.values())
    checked = {name: pid for name, pid in pids.items() if pid is not None}
    # Warm the route first: lazily imported code is not growth.
    httpx.post(f"{stack.gateway_url}/api/assets", content=png(scene()), headers={"Content-Type": "image/png"})
    before = {name: _rss_kb(pid, "VmRSS") for name, pid in checked.items()}
    peaks_reset = all(_reset_peak(pid) for pid in checked.values())

    def chunks() -> Iterator[bytes]:
        with path.open("rb") as src:
            while chunk := src.read(256 * 1024):
                yield chunk

    with _Sampler(checked) as sampler:
        answer = httpx.post(
            f"{stack.gateway_url}/api/assets",
            content=chunks(),
            headers={"Content-Type": "image/png"},
            timeout=300,
        )
    assert answer.status_code == 201, answer.text
    asset = Asset(**answer.json())
    assert (asset.width, asset.height, asset.bytes) == (4900, 4900, size)
    for name, pid in checked.items():
        peak = max(sampler.peak[name], _rss_kb(pid, "VmHWM") if peaks_reset else 0)
        grown = (peak - before[name]) * 1024
        assert grown < size / 4, f"{name} grew by {grown / 2**20:.0f} MiB for a {size / 2**20:.0f} MiB upload"
    # And it comes back whole, streamed.
    digest = hashlib.sha256()
    with httpx.stream("GET", f"{stack.gateway_url}/api/assets/{asset.asset_id}", timeout=300) as response:
        assert response.status_code == 200 and response.headers["content-type"] == "image/png"
        for piece in response.iter_bytes():
            digest.update(piece)
    assert digest.hexdigest()[:32] == asset.asset_id
    httpx.delete(f"{stack.gateway_url}/api/assets/{asset.asset_id}")


def test_image_utils_take_asset_references_too(client: Client, stack: Stack) -> None:
    asset = client.assets.upload(png(scene()))
    answer = httpx.post(
        f"{stack.gateway_url}/api/image-utils/extract-object",
        json={"image": f"asset:{asset.asset_id}", "mask": base64.b64encode(png(mask())).decode()},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    cut = decode(base64.b64decode(answer.json()["extracted_image"]))
    assert cut.mode == "RGBA" and cut.size == (OBJECT_BOX[2] - OBJECT_BOX[0], OBJECT_BOX[3] - OBJECT_BOX[1])
    missing = httpx.post(
        f"{stack.gateway_url}/api/image-utils/convert",
        json={"image": "asset:" + "0" * 32, "format": "webp"},
        timeout=60,
    )
    assert missing.status_code == 404 and "upload the picture again" in missing.json()["detail"]
