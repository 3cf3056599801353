"""A finished job's result says how it was made (API.md): the seed echoed, generation_time,
model_used, parameters_used; the seed client's flags are accepted and reported."""

from __future__ import annotations

import httpx
from jobs_helpers import ServerThread, body, submit, wait_status

from retouch.jobs.results import MAE_NOTE


def test_the_result_echoes_the_seed_and_reports_what_was_used(jobs: ServerThread) -> None:
    task_id = submit(
        jobs.url,
        prompt="steps=3",
        seed=42,
        num_inference_steps=15,
        guidance_scale=2,
        true_cfg_scale=2,
        enable_mae_refinement=True,
        enable_debug=False,
    )
    wait_status(jobs.url, task_id, "done")
    result = httpx.get(f"{jobs.url}/api/generate/result/{task_id}").json()
    assert result["status"] == "done" and result["seed"] == 42
    assert result["model_used"] == result["engine"] == "fake"
    assert isinstance(result["generation_time"], float) and result["generation_time"] >= 0
    used = result["parameters_used"]
    assert (used["seed"], used["num_inference_steps"], used["guidance_scale"], used["true_cfg_scale"]) == (42, 15, 2, 2)
    assert used["task_type"] == "removal" and used["engine"] == "fake"
    assert used["enable_mae_refinement"] is False, "asked for, but no engine has it: reported as not applied"
    assert MAE_NOTE in result["notes"]
    assert used["enable_debug"] is False and result["debug_info"] is None


def test_enable_debug_adds_debug_info(jobs: ServerThread) -> None:
    task_id = submit(jobs.url, prompt="steps=2", enable_debug=True)
    wait_status(jobs.url, task_id, "done")
    result = httpx.get(f"{jobs.url}/api/generate/result/{task_id}").json()
    assert result["parameters_used"]["enable_debug"] is True
    debug = result["debug_info"]
    assert debug["engine"] == "fake" and debug["run_id"].startswith(task_id) and "timings" in debug
    assert MAE_NOTE not in result["notes"], "not asked for, nothing to say"


def test_a_flag_of_the_wrong_type_is_refused(jobs: ServerThread) -> None:
    response = httpx.post(f"{jobs.url}/api/generate/async", json=body(enable_debug="yes"))
    assert response.status_code == 422 and "enable_debug" in response.json()["detail"]
