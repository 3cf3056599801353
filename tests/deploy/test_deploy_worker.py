"""The generation worker's side of the Modal progress channel, with the queue and flag as plain callables."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from retouch.sdk import codec
from retouch.sdk.models.generation import ErrorEvent, ProgressEvent, ResultEvent, RunEvent, RunRequest


@pytest.fixture
def generation(load: Any) -> ModuleType:
    module: ModuleType = load("generation")
    return module


def payload(run_id: str | None = "run-1") -> bytes:
    return codec.encode(RunRequest(prompt="", input_image=b"png", task_type="white-balance", run_id=run_id))


def decoded(items: list[bytes]) -> list[RunEvent]:
    return [codec.decode(item, RunEvent) for item in items]  # type: ignore[arg-type]


Run = Callable[[RunRequest, Callable[[RunEvent], None], Callable[[], bool]], object]


def test_events_go_on_the_queue_in_order_ending_with_the_result(generation: ModuleType) -> None:
    put: list[bytes] = []

    def run(request: RunRequest, on_event: Callable[[RunEvent], None], cancelled: Callable[[], bool]) -> None:
        assert request.run_id == "run-1" and request.task_type == "white-balance"
        on_event(ProgressEvent(run_id="run-1", stage="denoising", current_step=1, total_steps=2))
        on_event(ResultEvent(run_id="run-1", image=b"\x89PNG", width=4, height=3))

    assert generation.run_request(payload(), run=run, put=put.append, cancelled=lambda: False) == "result"
    events = decoded(put)
    assert [type(e) for e in events] == [ProgressEvent, ResultEvent]
    assert isinstance(events[1], ResultEvent) and events[1].image == b"\x89PNG"


def test_a_failing_run_ends_with_one_error_event(generation: ModuleType) -> None:
    put: list[bytes] = []

    def run(request: RunRequest, on_event: Callable[[RunEvent], None], cancelled: Callable[[], bool]) -> None:
        on_event(ProgressEvent(run_id="run-1", stage="loading_model"))
        raise MemoryError("CUDA out of memory")

    assert generation.run_request(payload(), run=run, put=put.append, cancelled=lambda: False) == "error"
    events = decoded(put)
    assert isinstance(events[-1], ErrorEvent) and len(events) == 2
    assert events[-1].problem.status == 500 and "CUDA out of memory" in events[-1].problem.detail


def test_a_run_that_ends_silently_still_ends_with_a_terminal_event(generation: ModuleType) -> None:
    put: list[bytes] = []
    assert generation.run_request(payload(), run=lambda *a: None, put=put.append, cancelled=lambda: False) == "error"
    (event,) = decoded(put)
    assert isinstance(event, ErrorEvent) and "without a result" in event.problem.detail


def test_nothing_is_sent_after_the_terminal_event(generation: ModuleType) -> None:
    put: list[bytes] = []

    def run(request: RunRequest, on_event: Callable[[RunEvent], None], cancelled: Callable[[], bool]) -> None:
        on_event(_cancelled())
        on_event(ProgressEvent(run_id="run-1", stage="postprocessing"))
        raise RuntimeError("after the end")

    assert generation.run_request(payload(), run=run, put=put.append, cancelled=lambda: True) == "error"
    assert len(put) == 1


def _cancelled() -> ErrorEvent:
    from retouch.sdk.models.common import Problem

    return ErrorEvent(run_id="run-1", problem=Problem(status=409, title="Conflict", detail="cancelled"))


def test_the_run_sees_the_cancel_flag(generation: ModuleType) -> None:
    put: list[bytes] = []
    flags = iter([False, True])

    def run(request: RunRequest, on_event: Callable[[RunEvent], None], cancelled: Callable[[], bool]) -> None:
        assert cancelled() is False
        assert cancelled() is True
        on_event(_cancelled())

    generation.run_request(payload(), run=run, put=put.append, cancelled=lambda: next(flags))
    (event,) = decoded(put)
    assert isinstance(event, ErrorEvent) and event.problem.detail == "cancelled"


def test_a_result_too_large_for_a_queue_item_with_nowhere_to_store_it_is_an_error(generation: ModuleType) -> None:
    put: list[bytes] = []
    big = b"x" * generation.QUEUE_ITEM_LIMIT

    def run(request: RunRequest, on_event: Callable[[RunEvent], None], cancelled: Callable[[], bool]) -> None:
        on_event(ResultEvent(run_id="run-1", image=big, width=4000, height=3000))

    generation.run_request(payload(), run=run, put=put.append, cancelled=lambda: False)
    assert all(len(item) <= generation.QUEUE_ITEM_LIMIT for item in put)
    (event,) = decoded(put)
    assert isinstance(event, ErrorEvent) and "item limit" in event.problem.detail


# -- The worker around the generation package's real runner (classic engine: CPU, no weights).


@pytest.fixture(scope="module")
def runner() -> Any:
    from retouch.generation.runner import Runner
    from retouch.generation.settings import GenerationSettings

    classic = Runner(GenerationSettings(engine="classic"))
    classic.load()
    return classic


def picture_payload(task: str = "white-balance", run_id: str = "run-7") -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (24, 16), (200, 150, 110)).save(buffer, "PNG")
    request = RunRequest(prompt="", input_image=buffer.getvalue(), task_type=task, run_id=run_id)  # type: ignore[arg-type]
    return codec.encode(request)


def test_a_real_run_streams_progress_then_a_png_of_the_inputs_size(generation: ModuleType, runner: Any) -> None:
    put: list[bytes] = []
    outcome = generation.run_request(
        picture_payload(), run=generation.runner_run(runner), put=put.append, cancelled=lambda: False
    )
    assert outcome == "result"
    events = decoded(put)
    assert all(isinstance(e, ProgressEvent) for e in events[:-1]) and len(events) > 1
    result = events[-1]
    assert isinstance(result, ResultEvent) and result.run_id == "run-7"
    assert (result.width, result.height) == (24, 16) and bytes(result.image).startswith(b"\x89PNG")


def test_a_cancelled_real_run_ends_with_the_packages_409(generation: ModuleType, runner: Any) -> None:
    put: list[bytes] = []
    outcome = generation.run_request(
        picture_payload(), run=generation.runner_run(runner), put=put.append, cancelled=lambda: True
    )
    assert outcome == "error"
    event = decoded(put)[-1]
    assert isinstance(event, ErrorEvent) and (event.problem.status, event.problem.detail) == (409, "cancelled")


def test_an_invalid_real_request_ends_with_a_4xx_before_any_model_work(generation: ModuleType, runner: Any) -> None:
    put: list[bytes] = []
    outcome = generation.run_request(
        picture_payload(task="removal"), run=generation.runner_run(runner), put=put.append, cancelled=lambda: False
    )
    assert outcome == "error"
    (event,) = decoded(put)  # no progress: refused up front
    assert isinstance(event, ErrorEvent) and 400 <= event.problem.status < 500


def test_a_spawned_run_reads_its_owners_assets_from_the_mounted_blob_volume(
    generation: ModuleType, runner: Any, tmp_path: Any
) -> None:
    import io

    from PIL import Image

    from retouch.runtime import assets

    buffer = io.BytesIO()
    Image.new("RGB", (20, 12), (200, 150, 110)).save(buffer, "PNG")
    data = buffer.getvalue()
    asset_id = assets.content_id(data)
    refreshed: list[bool] = []

    def upload_lands_on_reload() -> None:
        # As a Modal Volume: the jobs container's upload is visible here only after a reload.
        refreshed.append(True)
        (tmp_path / assets.data_key(asset_id)).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / assets.data_key(asset_id)).write_bytes(data)
        marker = tmp_path / assets.owner_key(asset_id, "key:alice")
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_bytes(b"")

    source = assets.DirectoryAssetSource(tmp_path, refresh=upload_lands_on_reload)

    def request(owner: str, run_id: str) -> bytes:
        ref = assets.reference(asset_id)
        return codec.encode(
            RunRequest(prompt="", input_image=ref, task_type="white-balance", run_id=run_id, owner=owner)  # type: ignore[arg-type]
        )

    put: list[bytes] = []
    outcome = generation.run_request(
        request("key:alice", "run-a"),
        run=generation.runner_run(runner, source),
        put=put.append,
        cancelled=lambda: False,
    )
    assert outcome == "result" and refreshed == [True]
    result = decoded(put)[-1]
    assert isinstance(result, ResultEvent) and (result.width, result.height) == (20, 12)

    # Another owner's run cannot read it: a 404 naming the field, not the picture.
    put = []
    outcome = generation.run_request(
        request("key:mallory", "run-m"),
        run=generation.runner_run(runner, source),
        put=put.append,
        cancelled=lambda: False,
    )
    event = decoded(put)[-1]
    assert outcome == "error" and isinstance(event, ErrorEvent) and event.problem.status == 404
    assert "input_image" in event.problem.detail
