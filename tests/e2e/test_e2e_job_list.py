"""Job list and delete through the gateway with API keys, on the real local stack: each key sees
only its own jobs, and a deleted job is gone for its owner."""

from __future__ import annotations

import httpx
import pytest
from e2e_config import API_KEYS
from e2e_images import mask, png, scene

from retouch.sdk import Client, NotFoundError
from retouch.sdk.models.generation import GenerationRequest

pytestmark = pytest.mark.e2e


def test_each_key_lists_and_deletes_only_its_own_jobs(keyed_gateway: str) -> None:
    with (
        Client(keyed_gateway, api_key=API_KEYS[0], max_retries=0, timeout=60) as mine,
        Client(keyed_gateway, api_key=API_KEYS[1], max_retries=0, timeout=60) as theirs,
    ):
        made = [mine.jobs.submit(_request()).task_id for _ in range(3)]
        for task_id in made:
            mine.jobs.wait(task_id)
        listed = [job.task_id for page in mine.jobs.list(limit=2) for job in page.jobs]
        assert listed[:3] == made[::-1]
        assert not set(made) & {job.task_id for page in theirs.jobs.list() for job in page.jobs}
        with pytest.raises(NotFoundError):
            theirs.jobs.delete(made[0])
        mine.jobs.delete(made[0])
        with pytest.raises(NotFoundError):
            mine.jobs.result(made[0])
        assert made[0] not in [job.task_id for page in mine.jobs.list() for job in page.jobs]
    anonymous = httpx.get(f"{keyed_gateway}/api/generate")
    assert anonymous.status_code == 401


def _request() -> GenerationRequest:
    return GenerationRequest(prompt="", task_type="removal", input_image=png(scene()), mask=png(mask()))
