"""The jobs service's data directory fills up (a small tmpfs, as root) or turns read-only (chmod,
as any other user): submissions are refused with 507/503 naming it, health is not healthy, and
nothing accepted before is lost once space returns."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from faults_helpers import removal_body, start_stack, status, submit, system_health, wait_all_terminal, wait_until

from retouch.local import Stack

pytestmark = pytest.mark.e2e

TMPFS_BYTES = 8 * 1024 * 1024
MIN_FREE = 1024 * 1024


class Starved:
    """Makes a directory unable to take writes, and gives it back."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.filler = directory / "filler.bin"
        self.as_root = os.geteuid() == 0

    def mount(self) -> None:
        """As root: the directory becomes a small tmpfs (chmod would not stop root)."""
        if not self.as_root:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_BYTES}", "tmpfs", str(self.directory)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")

    def unmount(self) -> None:
        """Undo :meth:`mount` (after the stack stopped)."""
        if self.as_root:
            subprocess.run(["umount", "-l", str(self.directory)], check=False, capture_output=True)

    def starve(self) -> None:
        """Fill the tmpfs to the last byte, or make the directory tree read-only."""
        if self.as_root:
            with self.filler.open("wb") as out:
                chunk = b"\0" * (256 * 1024)
                try:
                    while True:
                        out.write(chunk)
                        out.flush()
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC
        else:
            for path in [self.directory, *self.directory.rglob("*")]:
                if path.is_dir():
                    path.chmod(0o555)

    def feed(self) -> None:
        """Give the space (or the write permission) back."""
        if self.as_root:
            self.filler.unlink(missing_ok=True)
        else:
            for path in [self.directory, *self.directory.rglob("*")]:
                if path.is_dir():
                    path.chmod(0o755)


@pytest.fixture
def starved(tmp_path: Path) -> Iterator[Starved]:
    jobs_dir = tmp_path / "data" / "job_manager"
    starved = Starved(jobs_dir)
    starved.mount()
    try:
        yield starved
    finally:
        with contextlib.suppress(OSError):
            starved.feed()


def test_a_full_or_read_only_data_dir_refuses_jobs_and_loses_nothing(
    tmp_path: Path, stacks: list[Stack], starved: Starved
) -> None:
    stack = start_stack(tmp_path / "data", tmp_path / "stack.log", RETOUCH_JOBS_MIN_FREE_BYTES=str(MIN_FREE))
    stacks.append(stack)
    try:
        gateway = stack.gateway_url
        first = submit(gateway, removal_body(1))
        [done] = wait_all_terminal(gateway, [first])
        assert done["status"] == "done"
        # Jobs accepted while generation is away wait; then the disk fills under them.
        stack.kill("generation")
        waiting = [submit(gateway, removal_body(seed)) for seed in (2, 3)]
        starved.starve()
        refused = httpx.post(f"{gateway}/api/generate/async", json=removal_body(4), timeout=30)
        assert refused.status_code in (503, 507), refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert "data directory" in refused.json()["detail"]
        if starved.as_root:
            assert refused.status_code == 507
            assert "is full" in refused.json()["detail"]
        wait_until(
            lambda: system_health(gateway)["services"]["job_manager"]["status"] == "unhealthy",
            timeout=30,
            what="the gateway to report the jobs service unhealthy",
        )
        # What was stored before is still readable.
        assert status(gateway, first)["status"] == "done"
        result = httpx.get(f"{gateway}/api/generate/result-image/{first}", timeout=30)
        assert result.status_code == 200
        assert result.content.startswith(b"\x89PNG")

        starved.feed()
        wait_until(
            lambda: system_health(gateway)["services"]["job_manager"]["status"] != "unhealthy",
            timeout=30,
            what="the jobs service to be healthy again",
        )
        later = submit(gateway, removal_body(5))
        stack.restart("generation")
        finals = wait_all_terminal(gateway, [*waiting, later], timeout=60)
        assert [final["status"] for final in finals] == ["done"] * 3, [f["error"] for f in finals]
    finally:
        stack.stop()
        starved.unmount()
