"""The generation service dies or is not there yet: the stack stays up, the supervisor brings the
service back, and every job accepted meanwhile reaches ``done``."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from faults_helpers import (
    removal_body,
    start_stack,
    status,
    submit,
    system_health,
    wait_all_terminal,
    wait_until,
)

from retouch.local import Stack

pytestmark = pytest.mark.e2e


def test_sigkill_of_generation_with_12_jobs_queued_and_running(tmp_path: Path, stacks: list[Stack]) -> None:
    stack = start_stack(tmp_path / "data", tmp_path / "stack.log")
    stacks.append(stack)
    gateway = stack.gateway_url
    # Large enough runs that the kill lands while one is running and the rest are queued.
    task_ids = [submit(gateway, removal_body(seed, scale=4)) for seed in range(12)]
    # Any job running will do: a fast engine may finish the first before a poll sees it running.
    wait_until(
        lambda: any(status(gateway, task_id)["status"] == "processing" for task_id in task_ids),
        what="a job to be running",
    )
    generation = stack.processes["generation"]
    before = generation.pid
    assert generation.popen is not None
    # An unplanned death (not stack.kill, which marks it as wanted).
    generation.popen.send_signal(signal.SIGKILL)
    others = {name: stack.processes[name].pid for name in ("gateway", "job_manager")}
    # The gateway reports generation down meanwhile; jobs wait for it.
    wait_until(
        lambda: system_health(gateway)["services"]["generation"]["status"] == "unhealthy",
        timeout=30,
        what="the gateway to report generation down",
    )
    finals = wait_all_terminal(gateway, task_ids, timeout=90)
    assert [final["status"] for final in finals] == ["done"] * 12, [f["error"] for f in finals]
    assert stack.restarts("generation") >= 1
    assert stack.processes["generation"].pid != before
    # Nothing else was restarted: the stack stayed up.
    assert {name: stack.processes[name].pid for name in others} == others
    assert all(stack.processes[name].alive for name in stack.processes)
    services = system_health(gateway)["services"]
    assert services["generation"]["status"] == "healthy"
    assert services["job_manager"]["status"] == "healthy"


def test_jobs_started_with_generation_down_run_once_it_is_up(tmp_path: Path, stacks: list[Stack]) -> None:
    stack = start_stack(tmp_path / "data", tmp_path / "stack.log")
    stacks.append(stack)
    gateway = stack.gateway_url
    stack.kill("generation")  # on purpose: the supervisor leaves it down
    task_ids = [submit(gateway, removal_body(seed)) for seed in range(4)]
    wait_until(
        lambda: status(gateway, task_ids[0])["stage"] == "waiting_for_engine",
        timeout=30,
        what="the first job to wait for the engine",
    )
    waiting = [status(gateway, task_id) for task_id in task_ids]
    assert [job["status"] for job in waiting] == ["queued"] * 4
    assert [job["queue_position"] for job in waiting] == [1, 2, 3, 4]
    assert "unreachable" in waiting[0]["loading_message"]
    # Accepting and waiting is the documented choice: the jobs service says it is degraded.
    wait_until(
        lambda: system_health(gateway)["services"]["job_manager"]["status"] == "degraded",
        timeout=30,
        what="the gateway to report the jobs service degraded",
    )
    assert "waiting for the generation engine" in system_health(gateway)["services"]["job_manager"]["error"]
    stack.restart("generation")
    finals = wait_all_terminal(gateway, task_ids, timeout=60)
    assert [final["status"] for final in finals] == ["done"] * 4, [f["error"] for f in finals]


def test_jobs_restarted_before_generation_listens(tmp_path: Path, stacks: list[Stack]) -> None:
    stack = start_stack(tmp_path / "data", tmp_path / "stack.log")
    stacks.append(stack)
    gateway = stack.gateway_url
    stack.kill("generation")
    task_ids = [submit(gateway, removal_body(seed)) for seed in range(4)]
    wait_until(lambda: status(gateway, task_ids[0])["stage"] == "waiting_for_engine", what="the jobs to wait")
    # The jobs service dies and comes back while generation is still away: the recovered jobs
    # are not dispatched into the void (they would fail "unreachable"); they wait.
    stack.kill("job_manager")
    stack.restart("job_manager")
    wait_until(
        lambda: status(gateway, task_ids[0])["stage"] == "waiting_for_engine",
        timeout=30,
        what="the recovered jobs to wait for the engine",
    )
    assert all(status(gateway, task_id)["status"] == "queued" for task_id in task_ids)
    stack.restart("generation")
    finals = wait_all_terminal(gateway, task_ids, timeout=60)
    assert [final["status"] for final in finals] == ["done"] * 4, [f["error"] for f in finals]
