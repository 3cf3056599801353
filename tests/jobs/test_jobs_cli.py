"""``retouch edit`` and ``retouch jobs ...`` through a loopback jobs service."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from jobs_helpers import ServerThread, fake_runs, mask_png, png, status_of, submit, wait_status, wait_until
from PIL import Image

from retouch.sdk.cli import main


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    image, mask = tmp_path / "photo.png", tmp_path / "mask.png"
    image.write_bytes(png())
    mask.write_bytes(mask_png())
    return image, mask


def test_edit_writes_the_result_and_draws_progress(
    jobs: ServerThread, files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image, mask = files
    out = tmp_path / "out" / "edited.webp"
    code = main(
        [
            "--url",
            jobs.url,
            "edit",
            str(image),
            "--task",
            "removal",
            "--mask",
            str(mask),
            "--prompt",
            "steps=3",
            "-o",
            str(out),
        ]
    )
    assert code == 0
    assert Image.open(out).format == "WEBP"
    err = capsys.readouterr().err
    assert "queued" in err and "100% " in err and "[" in err and f"wrote {out}" in err


def test_edit_reports_a_failed_job(
    jobs: ServerThread, files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image, mask = files
    code = main(
        [
            "--url",
            jobs.url,
            "edit",
            str(image),
            "--task",
            "removal",
            "--mask",
            str(mask),
            "--prompt",
            "fail",
            "--no-progress",
            "-o",
            str(tmp_path / "x.png"),
        ]
    )
    assert code == 1
    assert "error: generation failed: the fake engine exploded" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_edit_without_a_mask_is_refused_by_the_server(
    jobs: ServerThread, files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image, _ = files
    assert main(["--url", jobs.url, "edit", str(image), "--task", "removal", "-o", str(tmp_path / "x.png")]) == 1
    assert "422" in capsys.readouterr().err


def test_jobs_subcommands(jobs: ServerThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    task_id = submit(jobs.url)
    wait_status(jobs.url, task_id, "done")
    assert main(["--url", jobs.url, "jobs", "status", task_id]) == 0
    assert '"status": "done"' in capsys.readouterr().out
    out = tmp_path / "r.jpg"
    assert main(["--url", jobs.url, "jobs", "result", task_id, "-o", str(out)]) == 0
    assert Image.open(out).format == "JPEG"
    assert main(["--url", jobs.url, "jobs", "watch", task_id]) == 0
    assert main(["--url", jobs.url, "jobs", "cancel", task_id]) == 1
    assert "409" in capsys.readouterr().err


def test_ctrl_c_cancels_the_job(
    jobs: ServerThread, fake_gen: ServerThread, files: tuple[Path, Path], tmp_path: Path
) -> None:
    image, mask = files
    script = Path(sys.executable).parent / "retouch"
    proc = subprocess.Popen(
        [
            str(script),
            "--url",
            jobs.url,
            "edit",
            str(image),
            "--task",
            "removal",
            "--mask",
            str(mask),
            "--prompt",
            "steps=400 delay=0.05",
            "-o",
            str(tmp_path / "never.png"),
        ],
        stderr=subprocess.PIPE,
        env={**os.environ, "RETOUCH_API_KEY": ""},
    )
    wait_until(lambda: any(int(r["steps_done"]) >= 2 for r in fake_runs(fake_gen.url)["runs"]), what="the job to run")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    task_id = str(fake_runs(fake_gen.url)["runs"][0]["run_id"]).split(".")[0]
    assert f"cancelling task {task_id}" in err.decode()
    assert f"task {task_id} cancelled" in err.decode()
    assert status_of(jobs.url, task_id)["status"] == "cancelled"
    assert not (tmp_path / "never.png").exists()
    result = httpx.get(f"{jobs.url}/api/generate/result/{task_id}")
    assert result.status_code == 200 and result.json()["status"] == "cancelled", "a cancelled job has no image"
