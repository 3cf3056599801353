"""The two ways in without the jobs service: ``retouch.generation.run`` (in-process, what a GPU
worker calls) and the ``retouch generation-run`` command."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from generation_helpers import box_mask, decode, fast_settings, png, smooth_background
from loopback import serve_on_loopback
from PIL import Image

import retouch.generation
from retouch.generation.app import create_app
from retouch.generation.runner import default_runner, error_event
from retouch.runtime.problems import ProblemError
from retouch.sdk.cli import main
from retouch.sdk.models.generation import ErrorEvent, ProgressEvent, RunEvent, RunRequest

PICTURE = Image.fromarray(smooth_background(48, 32))
MASK = box_mask((48, 32), (10, 8, 26, 24))


@pytest.fixture
def env_runner(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("RETOUCH_GENERATION_ENGINE", "classic")
    monkeypatch.setenv("RETOUCH_GENERATION_COMPOSITE_GROW_PX", "3")
    default_runner.cache_clear()
    yield
    default_runner.cache_clear()


def test_run_edits_in_process_with_events_and_the_environments_settings(env_runner: None) -> None:
    events: list[RunEvent] = []
    request = RunRequest(prompt="", input_image=png(PICTURE), mask=png(MASK), task_type="removal", run_id="w-1")
    result = retouch.generation.run(request, events.append)
    assert result.run_id == "w-1" and decode(result.image).size == (48, 32)
    assert all(isinstance(event, ProgressEvent) for event in events)
    assert [event.stage for event in events if isinstance(event, ProgressEvent)][-1] == "postprocessing"
    assert default_runner().settings.composite_grow_px == 3


def test_run_raises_problems_and_error_event_turns_them_into_terminal_events(env_runner: None) -> None:
    request = RunRequest(prompt="", input_image=png(PICTURE), mask=png(MASK), task_type="removal", run_id="w-2")
    with pytest.raises(ProblemError) as caught:
        retouch.generation.run(request, cancelled=lambda: True)
    cancelled = error_event("w-2", caught.value)
    assert isinstance(cancelled, ErrorEvent)
    assert (cancelled.problem.status, cancelled.problem.detail) == (409, "cancelled")

    empty = RunRequest(prompt="", input_image=png(PICTURE), mask=png(Image.new("L", (48, 32))), task_type="removal")
    with pytest.raises(ProblemError) as invalid:
        retouch.generation.run(empty)
    assert invalid.value.status == 422

    crashed = error_event("w-3", RuntimeError("out of memory"))
    assert crashed.problem.status == 500 and "out of memory" in crashed.problem.detail


def test_the_generation_run_command_writes_the_edit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photo, mask, out = tmp_path / "photo.png", tmp_path / "mask.png", tmp_path / "out" / "edited.png"
    PICTURE.save(photo)
    MASK.save(mask)
    with serve_on_loopback(create_app(fast_settings())) as url:
        code = main(
            ["--url", url, "generation-run", str(photo), "--task", "removal", "--mask", str(mask), "-o", str(out)]
        )
        assert code == 0
        edited = Image.open(out)
        assert edited.size == (48, 32)
        assert not np.array_equal(np.asarray(edited.convert("RGB")), np.asarray(PICTURE))

        code = main(["--url", url, "generation-run", str(photo), "--task", "removal", "-o", str(out)])
        assert code == 1
        assert "mask" in capsys.readouterr().err

        assert main(["--url", url, "generation-cancel", "no-such-run"]) == 1
