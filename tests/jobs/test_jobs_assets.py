"""``/api/assets`` of the jobs service: upload (raw and multipart), fetch, delete, owner scope,
references in job requests, results as assets, expiry (API.md, Assets)."""

from __future__ import annotations

import hashlib
import io
import json
import time
from pathlib import Path

import httpx
import pytest
from jobs_helpers import JobsFactory, ServerThread, b64, body, mask_png, png, status_of, wait_until
from PIL import Image

from retouch.sdk import Client, NotFoundError
from retouch.sdk.models.assets import Asset

OWNER = "X-Retouch-Owner"


def _id(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


def _upload(url: str, data: bytes, owner: str | None = None, content_type: str = "image/png") -> httpx.Response:
    headers = {"Content-Type": content_type}
    if owner is not None:
        headers[OWNER] = owner
    return httpx.post(f"{url}/api/assets", content=data, headers=headers, timeout=30)


def test_a_raw_upload_is_stored_under_its_content_hash(jobs: ServerThread) -> None:
    data = png(40, 30)
    answer = _upload(jobs.url, data)
    assert answer.status_code == 201, answer.text
    asset = answer.json()
    assert asset == {
        "asset_id": _id(data),
        "width": 40,
        "height": 30,
        "format": "png",
        "bytes": len(data),
        "content_type": "image/png",
    }
    assert answer.headers["location"] == f"/api/assets/{_id(data)}"
    fetched = httpx.get(f"{jobs.url}/api/assets/{asset['asset_id']}")
    assert fetched.status_code == 200
    assert fetched.content == data
    assert fetched.headers["content-type"] == "image/png"
    # The same bytes again are the same asset.
    assert _upload(jobs.url, data).json()["asset_id"] == asset["asset_id"]


def test_a_multipart_upload_and_a_jpeg(jobs: ServerThread) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (20, 10), (10, 200, 30)).save(buf, format="JPEG")
    data = buf.getvalue()
    answer = httpx.post(f"{jobs.url}/api/assets", files={"file": ("photo.jpg", data, "image/jpeg")})
    assert answer.status_code == 201, answer.text
    assert answer.json()["format"] == "jpeg" and answer.json()["asset_id"] == _id(data)
    fetched = httpx.get(f"{jobs.url}/api/assets/{_id(data)}")
    assert fetched.content == data and fetched.headers["content-type"] == "image/jpeg"


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        (b"", "image/png", 422),  # empty
        (b"this is not a picture", "image/png", 415),  # not an image
        (b"{}", "application/json", 415),  # not an upload
    ],
)
def test_bad_uploads_are_refused(jobs: ServerThread, data: bytes, content_type: str, status: int) -> None:
    answer = _upload(jobs.url, data, content_type=content_type)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"


def test_a_multipart_upload_without_the_file_field_is_refused(jobs: ServerThread) -> None:
    answer = httpx.post(f"{jobs.url}/api/assets", files={"picture": ("a.png", png(), "image/png")})
    assert answer.status_code == 422 and "'file'" in answer.json()["detail"]


def test_an_upload_over_the_pixel_limit_is_refused(jobs_server: JobsFactory) -> None:
    server = jobs_server(max_image_pixels=1000)
    answer = _upload(server.url, png(40, 30))
    assert answer.status_code == 413 and "RETOUCH_MAX_IMAGE_PIXELS" in answer.json()["detail"]


def test_an_upload_over_the_asset_byte_limit_is_refused(jobs_server: JobsFactory) -> None:
    server = jobs_server(max_asset_bytes=100)
    answer = _upload(server.url, png(40, 30))
    assert answer.status_code == 413 and "RETOUCH_MAX_ASSET_BYTES" in answer.json()["detail"]


def test_assets_are_owner_scoped(jobs: ServerThread) -> None:
    data = png(16, 16, (1, 2, 3))
    asset_id = _upload(jobs.url, data, owner="alice").json()["asset_id"]
    assert httpx.get(f"{jobs.url}/api/assets/{asset_id}", headers={OWNER: "alice"}).status_code == 200
    assert httpx.get(f"{jobs.url}/api/assets/{asset_id}", headers={OWNER: "bob"}).status_code == 404
    assert httpx.get(f"{jobs.url}/api/assets/{asset_id}").status_code == 404  # anonymous
    assert httpx.delete(f"{jobs.url}/api/assets/{asset_id}", headers={OWNER: "bob"}).status_code == 404
    # Bob uploading the same picture holds it too; Alice deleting hers leaves his.
    assert _upload(jobs.url, data, owner="bob").json()["asset_id"] == asset_id
    assert httpx.delete(f"{jobs.url}/api/assets/{asset_id}", headers={OWNER: "alice"}).status_code == 204
    assert httpx.get(f"{jobs.url}/api/assets/{asset_id}", headers={OWNER: "alice"}).status_code == 404
    assert httpx.get(f"{jobs.url}/api/assets/{asset_id}", headers={OWNER: "bob"}).content == data


def test_delete_removes_the_bytes_with_the_last_holder(jobs: ServerThread, tmp_path: Path) -> None:
    asset_id = _upload(jobs.url, png(12, 12, (9, 9, 9))).json()["asset_id"]
    folder = tmp_path / "data" / "jobs" / "blobs" / "assets" / asset_id
    assert (folder / "data").exists()
    assert httpx.delete(f"{jobs.url}/api/assets/{asset_id}").status_code == 204
    assert not folder.exists()
    assert httpx.get(f"{jobs.url}/api/assets/{asset_id}").status_code == 404
    assert httpx.delete(f"{jobs.url}/api/assets/{asset_id}").status_code == 404


@pytest.mark.parametrize("asset_id", ["nothex", "0" * 31, "../../etc/passwd"])
def test_malformed_ids_are_404(jobs: ServerThread, asset_id: str) -> None:
    assert httpx.get(f"{jobs.url}/api/assets/{asset_id}").status_code == 404


def test_a_job_refers_to_an_asset_and_its_result_is_an_asset(jobs: ServerThread) -> None:
    picture = png(32, 24)
    asset_id = _upload(jobs.url, picture, owner="alice").json()["asset_id"]
    headers = {OWNER: "alice"}
    fields = body()
    fields["input_image"] = f"asset:{asset_id}"
    answer = httpx.post(f"{jobs.url}/api/generate/async", json=fields, headers=headers)
    assert answer.status_code == 202, answer.text
    task_id = answer.json()["task_id"]
    wait_until(lambda: status_of(jobs.url, task_id, "alice")["status"] in ("done", "error"), what="the job")
    result = httpx.get(f"{jobs.url}/api/generate/result/{task_id}", headers=headers).json()
    assert result["status"] == "done", result
    result_id = result["image_asset"]
    fetched = httpx.get(f"{jobs.url}/api/assets/{result_id}", headers=headers)
    assert fetched.status_code == 200 and _id(fetched.content) == result_id
    assert httpx.get(f"{jobs.url}/api/assets/{result_id}", headers={OWNER: "bob"}).status_code == 404


def test_another_owners_asset_in_a_job_is_a_404_at_submit(jobs: ServerThread) -> None:
    asset_id = _upload(jobs.url, png(32, 24), owner="alice").json()["asset_id"]
    fields = body()
    fields["input_image"] = f"asset:{asset_id}"
    answer = httpx.post(f"{jobs.url}/api/generate/async", json=fields, headers={OWNER: "bob"})
    assert answer.status_code == 404, answer.text
    assert "input_image" in answer.json()["detail"] and "upload the picture again" in answer.json()["detail"]
    fields["mask"] = f"asset:{asset_id}"
    fields["input_image"] = b64(png(32, 24))
    assert httpx.post(f"{jobs.url}/api/generate/async", json=fields, headers={OWNER: "bob"}).status_code == 404


def test_a_malformed_reference_is_a_422(jobs: ServerThread) -> None:
    fields = body()
    fields["input_image"] = "asset:not-an-id"
    answer = httpx.post(f"{jobs.url}/api/generate/async", json=fields)
    assert answer.status_code == 422 and "input_image" in answer.json()["detail"]


def test_assets_expire_with_the_ttl_unless_a_job_uses_them(jobs_server: JobsFactory, tmp_path: Path) -> None:
    server = jobs_server(ttl_s=1.0, expiry_interval_s=0.1)
    idle = _upload(server.url, png(20, 20, (5, 5, 5))).json()["asset_id"]
    used = _upload(server.url, png(32, 24, (7, 7, 7))).json()["asset_id"]
    # Long enough to be still running past the TTL on a loaded machine; cancelled at the end.
    fields = body("steps=3000 delay=0.01", mask=b64(mask_png()))
    fields["input_image"] = f"asset:{used}"
    task_id = httpx.post(f"{server.url}/api/generate/async", json=fields).json()["task_id"]
    wait_until(lambda: httpx.get(f"{server.url}/api/assets/{idle}").status_code == 404, what="the idle asset to expire")
    # The sweep refuses the asset first (its owner's hold goes), then removes its files.
    wait_until(
        lambda: not (tmp_path / "data" / "jobs" / "blobs" / "assets" / idle).exists(),
        what="the idle asset's files to be removed",
    )
    # Still running well past the TTL: its input is kept.
    time.sleep(1.2)
    assert httpx.get(f"{server.url}/api/generate/status/{task_id}").json()["status"] == "processing"
    assert httpx.get(f"{server.url}/api/assets/{used}").status_code == 200
    httpx.post(f"{server.url}/api/generate/async/cancel/{task_id}", timeout=30)


def test_the_sdk_uploads_fetches_and_deletes(jobs: ServerThread, tmp_path: Path) -> None:
    data = png(24, 24, (50, 60, 70))
    path = tmp_path / "photo.png"
    path.write_bytes(data)
    with Client(jobs.url, api_key="") as client:
        asset = client.assets.upload(path, timeout=30)
        assert isinstance(asset, Asset) and asset.asset_id == _id(data) and asset.width == 24
        assert client.assets.get(asset.asset_id) == data
        assert client.assets.upload(data).asset_id == asset.asset_id
        ref = client.assets.ref(data)
        assert bytes(ref) == f"asset:{asset.asset_id}".encode()
        client.assets.delete(asset.asset_id)
        with pytest.raises(NotFoundError):
            client.assets.get(asset.asset_id)


async def test_the_async_sdk_uploads_fetches_and_deletes(jobs: ServerThread) -> None:
    from retouch.sdk import AsyncClient

    data = png(22, 22, (80, 60, 70))
    async with AsyncClient(jobs.url, api_key="") as client:
        asset = await client.assets.upload(data, timeout=30)
        assert await client.assets.get(asset.asset_id) == data
        assert (await client.assets.ref(asset)).asset_id == asset.asset_id
        await client.assets.delete(asset.asset_id)
        with pytest.raises(NotFoundError):
            await client.assets.get(asset.asset_id)


def test_the_sdk_edit_uploads_a_big_picture_once(jobs: ServerThread, tmp_path: Path) -> None:
    import os

    import numpy as np

    # Noise does not compress: a PNG over the SDK's upload threshold.
    rng = np.random.default_rng(0)
    noise = Image.fromarray(rng.integers(0, 256, (700, 700, 3), dtype=np.uint8))
    path = tmp_path / "big.png"
    noise.save(path, format="PNG", compress_level=0)
    assert os.path.getsize(path) > 1024 * 1024
    mask = Image.new("L", (700, 700), 0)
    mask.paste(255, (100, 100, 200, 200))
    seen: list[str] = []

    def record(request: httpx.Request) -> None:
        seen.append(f"{request.method} {request.url.path}")

    with Client(jobs.url, api_key="") as client:
        client._http.event_hooks["request"].append(record)
        client.edit(path, task_type="removal", mask=mask, prompt="steps=1")
        client.edit(path, task_type="removal", mask=mask, prompt="steps=1")
    assert seen.count("POST /api/assets") == 1, seen


def test_a_result_without_its_image_names_its_asset(jobs: ServerThread) -> None:
    fields = body()
    answer = httpx.post(f"{jobs.url}/api/generate/async", json=fields)
    task_id = answer.json()["task_id"]
    wait_until(lambda: status_of(jobs.url, task_id)["status"] == "done", what="the job")
    lean = httpx.get(f"{jobs.url}/api/generate/result/{task_id}", params={"include_image": "false"}).json()
    assert lean["image"] == "" and lean["image_asset"]
    full = httpx.get(f"{jobs.url}/api/generate/result/{task_id}").json()
    assert full["image"] and full["image_asset"] == lean["image_asset"]
    bad = httpx.get(f"{jobs.url}/api/generate/result/{task_id}", params={"include_image": "maybe"})
    assert bad.status_code == 422


def test_the_size_of_a_rotated_photo_is_its_upright_size(jobs: ServerThread) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown portrait
    buf = io.BytesIO()
    Image.new("RGB", (40, 20), (90, 90, 90)).save(buf, format="JPEG", exif=exif.tobytes())
    asset = _upload(jobs.url, buf.getvalue(), content_type="image/jpeg").json()
    assert (asset["width"], asset["height"]) == (20, 40)


def test_the_sdk_smart_mask_uploads_a_big_picture_and_names_it(tmp_path: Path) -> None:
    import numpy as np

    from retouch.sdk.codec import AssetRef

    seen: list[tuple[str, bytes]] = []
    rng = np.random.default_rng(1)
    big = tmp_path / "big.png"
    Image.fromarray(rng.integers(0, 256, (700, 700, 3), dtype=np.uint8)).save(big, compress_level=0)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, request.content))
        if request.url.path == "/api/assets":
            data = request.content
            return httpx.Response(
                201,
                json={"asset_id": _id(data), "width": 700, "height": 700, "format": "png", "bytes": len(data)},
            )
        return httpx.Response(
            200,
            json={"mask_base64": b64(png()), "image_id": "x", "request_id": "r", "score": 1.0, "bbox": [0, 0, 1, 1]},
        )

    with Client("http://test", api_key="", transport=httpx.MockTransport(handler)) as client:
        client.smart_mask(big, points=[[10, 10]])
        client.smart_mask(big, points=[[20, 20]])
    paths = [path for path, _ in seen]
    assert paths == ["/api/assets", "/api/smart-mask", "/api/smart-mask"]
    body = json.loads(seen[1][1])
    assert body["image"] == bytes(AssetRef.of(_id(big.read_bytes()))).decode()


async def test_the_async_sdk_streams_a_path(jobs: ServerThread, tmp_path: Path) -> None:
    from retouch.sdk import AsyncClient

    data = png(30, 20, (1, 100, 200))
    path = tmp_path / "p.png"
    path.write_bytes(data)
    async with AsyncClient(jobs.url, api_key="") as client:
        asset = await client.assets.upload(path)
    assert asset.asset_id == _id(data) and (asset.width, asset.height) == (30, 20)


def test_the_cli_uploads_fetches_and_deletes(
    jobs: ServerThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from retouch.sdk.cli import main

    data = png(18, 14, (4, 5, 6))
    path = tmp_path / "in.png"
    path.write_bytes(data)
    assert main(["--url", jobs.url, "assets", "upload", str(path)]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["asset_id"] == _id(data)
    assert f"asset:{_id(data)}" in captured.err
    out = tmp_path / "out.png"
    assert main(["--url", jobs.url, "assets", "get", f"asset:{_id(data)}", "-o", str(out)]) == 0
    assert out.read_bytes() == data
    assert main(["--url", jobs.url, "assets", "delete", _id(data)]) == 0
    assert main(["--url", jobs.url, "assets", "get", _id(data), "-o", str(out)]) == 1
    assert "error:" in capsys.readouterr().err


def test_cli_image_arguments_take_asset_references(jobs: ServerThread, tmp_path: Path) -> None:
    from retouch.sdk.cli import main

    asset_id = _upload(jobs.url, png(32, 24)).json()["asset_id"]
    mask = tmp_path / "mask.png"
    mask.write_bytes(mask_png())
    out = tmp_path / "out.png"
    args = ["--url", jobs.url, "edit", f"asset:{asset_id}", "--task", "removal", "--mask", str(mask)]
    code = main([*args, "--no-progress", "-o", str(out)])
    assert code == 0
    with Image.open(out) as result:
        assert result.size == (32, 24)
