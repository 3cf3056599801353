"""``retouch batch`` and ``client.batch`` against a loopback jobs service (fake generation): one job
per picture, file names kept, failures reported at the end, and an interrupted batch (the CLI
process killed mid-way) resumed by running it again, which finishes only the rest."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from jobs_helpers import JobsFactory, ServerThread, fake_runs, mask_png, png, wait_until
from PIL import Image

from retouch.sdk import AsyncClient, Client
from retouch.sdk.batch import BatchOutcome, idempotency_key, plan_batch
from retouch.sdk.cli import main

SLOW = "steps=3 delay=0.1"


def _folder(root: Path, count: int, suffix: str = ".png") -> Path:
    folder = root / "in"
    folder.mkdir()
    for index in range(count):
        image = Image.new("RGB", (32, 24), (index * 8 % 256, 60, 30))
        image.save(folder / f"photo-{index:02d}{suffix}")
    return folder


def _mask(root: Path) -> Path:
    path = root / "mask.png"
    path.write_bytes(mask_png())
    return path


def _jobs_listed(url: str) -> list[dict[str, object]]:
    jobs: list[dict[str, object]] = []
    cursor = None
    while True:
        page = httpx.get(f"{url}/api/generate", params={"limit": 100, **({"cursor": cursor} if cursor else {})}).json()
        jobs += page["jobs"]
        cursor = page["next_cursor"]
        if cursor is None:
            return jobs


def test_an_interrupted_batch_is_resumed_without_redoing_finished_files(
    jobs_server: JobsFactory, fake_gen: ServerThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jobs = jobs_server(max_running=2)
    folder, mask, out = _folder(tmp_path, 30), _mask(tmp_path), tmp_path / "out"
    args = ["--url", jobs.url, "batch", str(folder), "--task", "removal", "--mask", str(mask)]
    args += ["--out", str(out), "--concurrency", "2", "--prompt", SLOW]
    code = "import sys; from retouch.sdk.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    try:
        wait_until(lambda: len(list(out.glob("*.png"))) >= 8, 60, "8 results of the first run")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    first = {path.name: path.stat().st_mtime_ns for path in out.glob("*.png")}
    assert 8 <= len(first) < 30, "the kill must land in the middle of the batch"

    assert main(args) == 0
    err = capsys.readouterr().err
    results = sorted(path.name for path in out.glob("*.png"))
    assert results == sorted(path.name for path in folder.glob("*.png"))
    # Finished files were skipped, not redone (untouched on disk).
    assert {name: (out / name).stat().st_mtime_ns for name in first} == first
    assert f"{len(first)} skipped" in err and "0 failed" in err
    # One job per picture in all: files in flight at the kill were picked up by their keys.
    listed = _jobs_listed(jobs.url)
    assert len(listed) == 30 and {job["status"] for job in listed} == {"done"}
    runs = fake_runs(fake_gen.url)["runs"]
    assert len({run["run_id"].split(".")[0] for run in runs}) == 30
    assert all(run["run_id"].endswith(".1") for run in runs)
    for path in out.glob("*.png"):
        assert Image.open(path).size == (32, 24)


def test_names_and_formats_are_kept_and_failures_reported_at_the_end(
    jobs: ServerThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(_jpeg())
    (folder / "b.webp").write_bytes(_webp())
    (folder / "c.png").write_bytes(png())
    (folder / "broken.png").write_bytes(b"not a picture at all")
    (folder / "notes.txt").write_text("not a picture, and not taken for one")
    out = tmp_path / "out"
    args = ["--url", jobs.url, "batch", str(folder), "--task", "white-balance", "--out", str(out), "--no-progress"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "3 done, 0 skipped (already there), 1 failed" in err
    assert "failed broken.png:" in err
    assert sorted(path.name for path in out.iterdir()) == ["a.jpg", "b.webp", "c.png"]
    assert Image.open(out / "a.jpg").format == "JPEG" and Image.open(out / "b.webp").format == "WEBP"
    # A second run redoes only the failure (still failing), skipping the rest.
    assert main(args) == 1
    assert "0 done, 3 skipped (already there), 1 failed" in capsys.readouterr().err


def test_a_folder_of_masks_pairs_by_name(jobs: ServerThread, tmp_path: Path) -> None:
    folder = _folder(tmp_path, 3)
    masks = tmp_path / "masks"
    masks.mkdir()
    (masks / "photo-00.png").write_bytes(mask_png())
    (masks / "photo-01.webp").write_bytes(_webp(mask_png()))
    seen: list[BatchOutcome] = []
    with Client(jobs.url, api_key="") as client:
        report = client.batch(
            folder,
            task_type="removal",
            out=tmp_path / "out",
            masks_dir=masks,
            on_progress=lambda outcome, done, total: seen.append(outcome),
        )
    assert [o.status for o in report.outcomes] == ["done", "done", "failed"]
    assert "no mask for photo-02.png" in (report.failed[0].error or "")
    assert sorted(o.name for o in seen) == ["photo-00.png", "photo-01.png", "photo-02.png"]


def test_the_async_client_batches_too(jobs: ServerThread, tmp_path: Path) -> None:
    folder, mask, out = _folder(tmp_path, 4), _mask(tmp_path), tmp_path / "out"

    async def scenario() -> list[str]:
        async with AsyncClient(jobs.url, api_key="") as client:
            report = await client.batch(folder, task_type="removal", out=out, mask_file=mask, concurrency=2)
            again = await client.batch(folder, task_type="removal", out=out, mask_file=mask)
            assert [o.status for o in again.outcomes] == ["skipped"] * 4
            return [o.status for o in report.outcomes]

    assert asyncio.run(scenario()) == ["done"] * 4
    assert len(list(out.glob("*.png"))) == 4


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"task_type": "removal"}, "needs a mask"),
        ({"task_type": "removal", "mask_file": "m.png", "masks_dir": "masks"}, "not both"),
        ({"task_type": "white-balance", "mask_file": "m.png"}, "takes no mask"),
        ({"task_type": "removal", "mask_file": "missing.png"}, "not a file"),
        ({"task_type": "removal", "masks_dir": "missing"}, "not a folder"),
    ],
)
def test_a_batch_that_cannot_work_is_refused_before_anything_runs(
    tmp_path: Path, kwargs: dict[str, str], message: str
) -> None:
    folder = _folder(tmp_path, 1)
    with pytest.raises(ValueError, match=message):
        plan_batch(folder, tmp_path / "out", **kwargs)  # type: ignore[arg-type]


def test_the_input_folder_is_not_an_output_folder(tmp_path: Path) -> None:
    folder = _folder(tmp_path, 1)
    with pytest.raises(ValueError, match="must not be the input folder"):
        plan_batch(folder, folder, task_type="white-balance")
    with pytest.raises(ValueError, match="not a folder"):
        plan_batch(tmp_path / "nope", tmp_path / "out", task_type="white-balance")


def test_cli_refusals_are_errors_not_tracebacks(
    jobs: ServerThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _folder(tmp_path, 1)
    assert main(["--url", jobs.url, "batch", str(folder), "--task", "removal", "--out", str(tmp_path / "o")]) == 1
    assert "needs a mask" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--url", jobs.url, "batch", str(folder), "--task", "removal", "--out", "o", "--concurrency", "0"])


def test_idempotency_keys_follow_the_content_and_options() -> None:
    key = idempotency_key(b"picture", b"mask", "removal", "", {"seed": 1})
    assert key == idempotency_key(b"picture", b"mask", "removal", "", {"seed": 1})
    assert key != idempotency_key(b"picture!", b"mask", "removal", "", {"seed": 1})
    assert key != idempotency_key(b"picture", b"mask2", "removal", "", {"seed": 1})
    assert key != idempotency_key(b"picture", b"mask", "removal", "", {"seed": 2})
    assert key != idempotency_key(b"picture", b"mask", "removal", "x", {"seed": 1})
    assert key != idempotency_key(b"picturemask", b"", "removal", "", {"seed": 1})
    assert len(key) <= 255 and key.isascii()


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.open(io.BytesIO(png())).save(buf, format="JPEG")
    return buf.getvalue()


def _webp(data: bytes | None = None) -> bytes:
    buf = io.BytesIO()
    Image.open(io.BytesIO(data or png())).save(buf, format="WEBP", lossless=True)
    return buf.getvalue()


def test_a_big_picture_goes_up_once_as_an_asset(jobs: ServerThread, tmp_path: Path) -> None:
    import random

    from retouch.sdk.resources.assets import content_id

    folder = tmp_path / "in"
    folder.mkdir()
    rng = random.Random(3)
    noise = Image.frombytes("RGB", (700, 700), bytes(rng.randrange(256) for _ in range(700 * 700 * 3)))
    noise.save(folder / "big.png")
    data = (folder / "big.png").read_bytes()
    assert len(data) > 1024 * 1024
    sent: list[tuple[str, str, int]] = []

    class Recording(httpx.HTTPTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            sent.append((request.method, request.url.path, len(request.content)))
            return super().handle_request(request)

    with Client(jobs.url, api_key="", transport=Recording()) as client:
        report = client.batch(folder, task_type="white-balance", out=tmp_path / "out")
    assert [o.status for o in report.outcomes] == ["done"], report
    uploads = [size for method, path, size in sent if (method, path) == ("POST", "/api/assets")]
    submits = [size for method, path, size in sent if (method, path) == ("POST", "/api/generate/async")]
    assert uploads == [len(data)] and len(submits) == 1 and submits[0] < 10_000, sent
    assert httpx.get(f"{jobs.url}/api/assets/{content_id(data)}").status_code == 200
    assert Image.open(tmp_path / "out" / "big.png").size == (700, 700)
