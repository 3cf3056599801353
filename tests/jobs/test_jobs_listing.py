"""``GET /api/generate`` (the owner's jobs, newest first, cursor pages, status filter) and
``DELETE /api/generate/{task_id}`` (cancel if needed, then everything of the job is gone, on disk
too), on a loopback jobs service with the fake generation service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from jobs_helpers import JobsFactory, ServerThread, fake_runs, submit, wait_until

A = {"X-Retouch-Owner": "owner-a"}
B = {"X-Retouch-Owner": "owner-b"}


def _page(url: str, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = httpx.get(f"{url}/api/generate", params=params, headers=headers)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def _all_pages(url: str, headers: dict[str, str], **params: Any) -> list[list[dict[str, Any]]]:
    pages = []
    cursor = None
    while True:
        page = _page(url, headers, **params, **({"cursor": cursor} if cursor else {}))
        pages.append(page["jobs"])
        cursor = page["next_cursor"]
        if cursor is None:
            return pages


def _wait_all_done(url: str, headers: dict[str, str], count: int) -> None:
    def finished() -> bool:
        return sum(len(page) for page in _all_pages(url, headers, status="done", limit=100)) == count

    wait_until(finished, 120, f"{count} jobs to be done")


def test_pages_over_120_jobs_are_newest_first_without_gaps_or_repeats(jobs_server: JobsFactory) -> None:
    jobs = jobs_server(max_running=8)
    submitted = [submit(jobs.url, "steps=1", headers=A) for _ in range(120)]
    others = [submit(jobs.url, "steps=1", headers=B) for _ in range(3)]
    _wait_all_done(jobs.url, A, 120)

    pages = _all_pages(jobs.url, A, limit=50)
    assert [len(page) for page in pages] == [50, 50, 20]
    listed = [job["task_id"] for page in pages for job in page]
    assert listed == list(reversed(submitted))
    assert not set(listed) & set(others)
    first = pages[0][0]
    assert first["status"] == "done" and first["created_at"] and first["finished_at"]
    assert set(first) >= {"task_id", "status", "stage", "progress", "queue_position", "error", "created_at"}

    default = _page(jobs.url, A)
    assert len(default["jobs"]) == 20 and default["next_cursor"] is not None


def test_a_page_started_before_new_submissions_continues_where_it_was(jobs: ServerThread) -> None:
    first = [submit(jobs.url, "steps=1", headers=A) for _ in range(5)]
    page = _page(jobs.url, A, limit=2)
    newer = submit(jobs.url, "steps=1", headers=A)
    rest = _page(jobs.url, A, limit=10, cursor=page["next_cursor"])
    assert [job["task_id"] for job in page["jobs"]] == first[:2:-1][:2]
    assert [job["task_id"] for job in rest["jobs"]] == first[2::-1]
    assert newer not in [job["task_id"] for job in rest["jobs"]]
    assert rest["next_cursor"] is None


def test_the_status_filter_uses_the_public_words(jobs: ServerThread) -> None:
    done = submit(jobs.url, "steps=1", headers=A)
    wait_status_owned(jobs.url, done, "done")
    hanging = submit(jobs.url, "hang", headers=A)
    wait_status_owned(jobs.url, hanging, "processing")
    queued = submit(jobs.url, "steps=1", headers=A)

    assert [job["task_id"] for job in _page(jobs.url, A, status="processing")["jobs"]] == [hanging]
    assert [job["task_id"] for job in _page(jobs.url, A, status="queued")["jobs"]] == [queued]
    queued_view = _page(jobs.url, A, status="queued")["jobs"][0]
    assert queued_view["queue_position"] == 1
    cancel = httpx.post(f"{jobs.url}/api/generate/async/cancel/{hanging}", headers=A, timeout=30)
    assert cancel.status_code == 200
    assert [job["task_id"] for job in _page(jobs.url, A, status="cancelled")["jobs"]] == [hanging]
    assert _page(jobs.url, A, status="error")["jobs"] == []


def wait_status_owned(url: str, task_id: str, status: str) -> None:
    def reached() -> bool:
        response = httpx.get(f"{url}/api/generate/status/{task_id}", headers=A)
        return bool(response.json()["status"] == status)

    wait_until(reached, 30, f"{task_id} to be {status}")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"status": "running"}, "status"),
        ({"status": "succeeded"}, "status"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "czEyYWI"}, "cursor"),
        ({"cursor": "%%%"}, "cursor"),
    ],
)
def test_bad_query_values_are_422_naming_the_parameter(jobs: ServerThread, params: dict[str, str], field: str) -> None:
    response = httpx.get(f"{jobs.url}/api/generate", params=params)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in response.text


def test_owners_see_only_their_own_jobs_and_cannot_delete_others(jobs: ServerThread) -> None:
    mine = submit(jobs.url, "steps=1", headers=A)
    wait_status_owned(jobs.url, mine, "done")
    assert _page(jobs.url, B)["jobs"] == []
    assert _page(jobs.url, {})["jobs"] == []
    assert httpx.delete(f"{jobs.url}/api/generate/{mine}", headers=B).status_code == 404
    assert httpx.delete(f"{jobs.url}/api/generate/{mine}").status_code == 404
    assert httpx.get(f"{jobs.url}/api/generate/status/{mine}", headers=A).status_code == 200
    assert [job["task_id"] for job in _page(jobs.url, A)["jobs"]] == [mine]


def _job_files(data_dir: Path, task_id: str) -> list[Path]:
    return [path for path in data_dir.rglob("*") if task_id in str(path)]


def test_deleting_a_finished_job_removes_its_result_and_files(jobs: ServerThread, tmp_path: Path) -> None:
    task_id = submit(jobs.url, headers={**A, "Idempotency-Key": "k-1"})
    wait_status_owned(jobs.url, task_id, "done")
    assert httpx.get(f"{jobs.url}/api/generate/result-image/{task_id}", headers=A).status_code == 200
    asset_id = httpx.get(f"{jobs.url}/api/generate/result/{task_id}", headers=A).json()["image_asset"]
    assert asset_id and _job_files(tmp_path / "data", asset_id), "the result should be on disk before the delete"

    response = httpx.delete(f"{jobs.url}/api/generate/{task_id}", headers=A)
    assert response.status_code == 204 and response.content == b""

    for route in ("status", "result", "result-image", "stream"):
        assert httpx.get(f"{jobs.url}/api/generate/{route}/{task_id}", headers=A).status_code == 404, route
    assert _job_files(tmp_path / "data", task_id) == []
    assert _job_files(tmp_path / "data", asset_id) == [], "the result's bytes are gone too"
    assert httpx.get(f"{jobs.url}/api/assets/{asset_id}", headers=A).status_code == 404
    assert _page(jobs.url, A)["jobs"] == []
    assert httpx.delete(f"{jobs.url}/api/generate/{task_id}", headers=A).status_code == 404
    # The idempotency key went with the job: the same key now makes a new job.
    again = submit(jobs.url, headers={**A, "Idempotency-Key": "k-1"})
    assert again != task_id


def test_deleting_a_running_job_cancels_its_engine_first(jobs: ServerThread, fake_gen: ServerThread) -> None:
    task_id = submit(jobs.url, "hang", headers=A)
    wait_status_owned(jobs.url, task_id, "processing")
    response = httpx.delete(f"{jobs.url}/api/generate/{task_id}", headers=A, timeout=30)
    assert response.status_code == 204

    def told_to_stop() -> bool:
        runs = [run for run in fake_runs(fake_gen.url)["runs"] if run["run_id"].startswith(task_id)]
        return bool(runs) and all(run["cancel_requested"] for run in runs)

    wait_until(told_to_stop, 10, "the engine to be told to stop")
    assert httpx.get(f"{jobs.url}/api/generate/status/{task_id}", headers=A).status_code == 404


def test_deleting_a_queued_job_takes_it_out_of_the_queue(jobs: ServerThread) -> None:
    blocker = submit(jobs.url, "hang", headers=A)
    wait_status_owned(jobs.url, blocker, "processing")
    queued = submit(jobs.url, "steps=1", headers=A)
    assert httpx.delete(f"{jobs.url}/api/generate/{queued}", headers=A).status_code == 204
    assert [job["task_id"] for job in _page(jobs.url, A)["jobs"]] == [blocker]
    assert httpx.delete(f"{jobs.url}/api/generate/{blocker}", headers=A, timeout=30).status_code == 204
    assert _page(jobs.url, A)["jobs"] == []


def test_a_missing_job_is_404(jobs: ServerThread) -> None:
    assert httpx.delete(f"{jobs.url}/api/generate/{'0' * 32}").status_code == 404


def test_sdk_lists_page_by_page_and_deletes(jobs: ServerThread) -> None:
    from retouch.sdk import Client, NotFoundError
    from retouch.sdk.models.jobs import JobPage

    made = [submit(jobs.url, "steps=1") for _ in range(7)]
    wait_until(lambda: len(_page(jobs.url, {}, status="done")["jobs"]) == 7, 30, "7 jobs done")
    with Client(jobs.url, api_key="") as client:
        pages = list(client.jobs.list(limit=3))
        assert all(isinstance(page, JobPage) for page in pages)
        assert [len(page.jobs) for page in pages] == [3, 3, 1]
        assert [job.task_id for page in pages for job in page.jobs] == made[::-1]
        assert [job.status for page in client.jobs.list(status="done") for job in page.jobs] == ["done"] * 7
        resumed = next(iter(client.jobs.list(limit=3, cursor=pages[0].next_cursor)))
        assert [job.task_id for job in resumed.jobs] == made[::-1][3:6]
        client.jobs.delete(made[0])
        with pytest.raises(NotFoundError):
            client.jobs.delete(made[0])
        with pytest.raises(NotFoundError):
            client.jobs.get(made[0])
        assert made[0] not in [job.task_id for page in client.jobs.list() for job in page.jobs]


def test_async_sdk_lists_and_deletes(jobs: ServerThread) -> None:
    import asyncio

    from retouch.sdk import AsyncClient

    made = [submit(jobs.url, "steps=1") for _ in range(5)]

    async def scenario() -> list[list[str]]:
        async with AsyncClient(jobs.url, api_key="") as client:
            await client.jobs.delete(made[-1])
            return [[job.task_id for job in page.jobs] async for page in client.jobs.list(limit=2)]

    assert asyncio.run(scenario()) == [made[3:1:-1], made[1::-1]]


def test_cli_jobs_list_and_delete(jobs: ServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    from retouch.sdk.cli import main

    made = [submit(jobs.url, "steps=1") for _ in range(3)]
    wait_until(lambda: len(_page(jobs.url, {}, status="done")["jobs"]) == 3, 30, "3 jobs done")
    assert main(["--url", jobs.url, "jobs", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == made[::-1]
    assert all(line.split()[1] == "done" for line in lines)
    assert main(["--url", jobs.url, "jobs", "list", "--limit", "2", "--json"]) == 0
    assert [line.count('"task_id"') for line in capsys.readouterr().out.splitlines()] == [1, 1]
    assert main(["--url", jobs.url, "jobs", "delete", made[1]]) == 0
    assert main(["--url", jobs.url, "jobs", "list", "--status", "done"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == [made[2], made[0]]
    assert main(["--url", jobs.url, "jobs", "delete", made[1]]) == 1
    assert "404" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--url", jobs.url, "jobs", "list", "--limit", "0"])
    with pytest.raises(SystemExit):
        main(["--url", jobs.url, "jobs", "list", "--status", "running"])
