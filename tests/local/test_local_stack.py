"""The Stack API with real child processes running fake services."""

from __future__ import annotations

import io
import json
import signal
import time
from pathlib import Path

import httpx
import pytest
from stack_helpers import fake, fake_settings, pid_alive, wait_dead

from retouch.local import ChildExited, Stack, StackError


def _env_of(stack: Stack, name: str) -> dict[str, object]:
    response = httpx.get(f"{stack.urls[name]}/env", headers={"x-service-token": stack.token}, timeout=10)
    response.raise_for_status()
    result: dict[str, object] = response.json()
    return result


def test_start_wires_every_process_and_stop_ends_them(tmp_path: Path, stacks: list[Stack]) -> None:
    log = io.StringIO()
    stack = Stack(fake_settings(tmp_path, log_stream=log, env={"FAKE_MARKER": "m"}))
    stacks.append(stack)
    stack.start()
    assert set(stack.processes) == {"alpha", "beta", "gateway"}
    assert len({proc.port for proc in stack.processes.values()}) == 3
    for name, url in stack.urls.items():
        assert url.startswith("http://127.0.0.1:")
        health = httpx.get(f"{url}/api/health", timeout=10)
        assert health.status_code == 200, name
    envs = {name: _env_of(stack, name) for name in stack.processes}
    for name, env in envs.items():
        assert env["ALPHA_SERVICE_URL"] == stack.urls["alpha"]
        assert env["BETA_SERVICE_URL"] == stack.urls["beta"]
        assert env["RETOUCH_SERVICE_TOKEN"] == stack.token
        assert env["RETOUCH_DATA_DIR"] == str(tmp_path / "data" / name)
        assert env["FAKE_MARKER"] == "m"
        assert env["pid"] == stack.processes[name].pid
        assert (tmp_path / "data" / name).is_dir()
    # The shared token really protects the services (the runtime checks it).
    assert httpx.get(f"{stack.urls['alpha']}/env", timeout=10).status_code == 401
    assert stack.gateway_url == stack.urls["gateway"]
    assert "alpha" in stack.service_urls and "gateway" not in stack.service_urls
    pids = [proc.pid for proc in stack.processes.values()]
    stack.stop()
    assert all(pid is not None and not pid_alive(pid) for pid in pids)
    assert all(not proc.alive for proc in stack.processes.values())
    assert "alpha        | " in log.getvalue()
    assert "gateway      | " in log.getvalue()


def test_json_log_format(tmp_path: Path, stacks: list[Stack]) -> None:
    log = io.StringIO()
    stack = Stack(fake_settings(tmp_path, log_stream=log, log_format="json", services=[fake("alpha")], gateway=None))
    stacks.append(stack)
    stack.start()
    stack.stop()
    entries = [json.loads(line) for line in log.getvalue().splitlines()]
    assert entries and all(entry["process"] == "alpha" for entry in entries)
    # The children log JSON lines themselves; their fields are kept.
    assert any(entry.get("service") == "fake" and "msg" in entry for entry in entries)


def test_a_child_that_dies_is_named_and_the_rest_can_be_stopped(tmp_path: Path, stacks: list[Stack]) -> None:
    stack = Stack(fake_settings(tmp_path))
    stacks.append(stack)
    stack.start()
    stack.check()  # all alive: no error
    httpx.post(f"{stack.urls['beta']}/exit?code=3", headers={"x-service-token": stack.token}, timeout=10)
    with pytest.raises(ChildExited, match="beta exited unexpectedly with code 3") as info:
        stack.wait(interval_s=0.05)
    assert info.value.name == "beta"
    assert info.value.returncode == 3
    assert any("Uvicorn running" in line for line in info.value.tail)
    others = [stack.processes[name].pid for name in ("alpha", "gateway")]
    assert all(pid is not None and pid_alive(pid) for pid in others)
    stack.stop()
    assert not any(pid is not None and pid_alive(pid) for pid in others)


def test_a_signal_killed_child_is_reported_with_the_signal(tmp_path: Path, stacks: list[Stack]) -> None:
    stack = Stack(fake_settings(tmp_path, services=[fake("alpha")]))
    stacks.append(stack)
    stack.start()
    stack.processes["alpha"].popen.send_signal(signal.SIGKILL)  # type: ignore[union-attr]
    with pytest.raises(ChildExited, match="alpha exited unexpectedly with signal SIGKILL"):
        stack.wait(interval_s=0.05)


def test_kill_and_restart_one_service(tmp_path: Path, stacks: list[Stack]) -> None:
    stack = Stack(fake_settings(tmp_path, services=[fake("alpha")], gateway=None))
    stacks.append(stack)
    stack.start()
    before = stack.processes["alpha"].pid
    assert stack.kill("alpha") == -signal.SIGKILL
    stack.check()  # a kill on purpose is not a failure
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{stack.urls['alpha']}/api/health", timeout=5)
    proc = stack.restart("alpha")
    restarted = proc.pid
    assert restarted is not None and restarted != before
    assert httpx.get(f"{stack.urls['alpha']}/api/health", timeout=10).status_code == 200
    assert _env_of(stack, "alpha")["RETOUCH_SERVICE_TOKEN"] == stack.token
    # A restart of a live process replaces it too.
    again = stack.restart("alpha").pid
    assert again is not None and again != restarted
    assert not pid_alive(restarted)
    with pytest.raises(StackError, match="no process 'nope'"):
        stack.kill("nope")


def test_request_stop_ends_wait(tmp_path: Path, stacks: list[Stack]) -> None:
    stack = Stack(fake_settings(tmp_path, services=[fake("alpha")], gateway=None))
    stacks.append(stack)
    stack.start()
    stack.request_stop("test")
    stack.wait()
    assert stack.stop_reason == "test"
    # Once stopping, a child's exit is no longer a failure.
    stack.processes["alpha"].popen.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
    stack.processes["alpha"].wait(10)
    stack.check()


def test_a_factory_that_fails_stops_everything_and_names_it(tmp_path: Path) -> None:
    stack = Stack(fake_settings(tmp_path, services=[fake("alpha"), fake("broken", "create_broken_app")]))
    with pytest.raises(StackError, match="broken exited with code 1 during start-up") as info:
        stack.start()
    assert "fake start-up failure" in str(info.value)
    assert "gateway" in stack.processes and stack.processes["gateway"].pid is None  # never started
    assert not stack.processes["alpha"].alive
    pid = stack.processes["alpha"].pid
    assert pid is not None and not pid_alive(pid)


def test_a_service_that_never_gets_ready_times_out(tmp_path: Path) -> None:
    stack = Stack(
        fake_settings(tmp_path, services=[fake("sick", "create_unhealthy_app")], gateway=None, startup_timeout_s=3)
    )
    with pytest.raises(StackError, match=r"sick did not answer .*/api/health within 3 s \(last: 503"):
        stack.start()
    assert not stack.processes["sick"].alive


def test_a_busy_gateway_port_is_refused_before_starting(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        stack = Stack(fake_settings(tmp_path, port=port))
        with pytest.raises(StackError, match=f"port {port} on 127.0.0.1 is in use"):
            stack.start()
        assert all(proc.pid is None for proc in stack.processes.values())


def test_context_manager(tmp_path: Path) -> None:
    with Stack(fake_settings(tmp_path, services=[fake("alpha")])) as stack:
        pids = [proc.pid for proc in stack.processes.values()]
        assert httpx.get(f"{stack.gateway_url}/api/health", timeout=10).status_code == 200
    assert not any(pid is not None and pid_alive(pid) for pid in pids)
    with pytest.raises(StackError, match="already started"):
        stack.start()


def test_without_gateway_there_is_no_gateway_url(tmp_path: Path) -> None:
    stack = Stack(fake_settings(tmp_path, services=[], gateway=None))
    with pytest.raises(StackError, match="no gateway"):
        _ = stack.gateway_url
    assert stack.web_url is None


def _pid_of(stack: Stack, name: str, timeout: float = 30.0) -> int:
    """The pid ``name`` reports once it answers again."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            pid = _env_of(stack, name)["pid"]
            assert isinstance(pid, int)
            return pid
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_the_supervisor_restarts_a_dead_child_and_keeps_the_others(tmp_path: Path, stacks: list[Stack]) -> None:
    notices: list[str] = []
    stack = Stack(fake_settings(tmp_path, restart=True, restart_delay_s=0.2, on_notice=notices.append))
    stacks.append(stack)
    stack.start()
    stack.supervise_in_background(interval_s=0.05)
    others = {name: stack.processes[name].pid for name in ("alpha", "gateway")}
    first = stack.processes["beta"].pid
    stack.processes["beta"].popen.send_signal(signal.SIGKILL)  # type: ignore[union-attr]
    second = _pid_of(stack, "beta")
    assert second != first
    assert stack.restarts("beta") == 1
    assert any("beta exited unexpectedly with signal SIGKILL; restarting it in 0.2 s" in n for n in notices)
    assert {name: stack.processes[name].pid for name in others} == others
    assert all(pid is not None and pid_alive(pid) for pid in others.values())
    # A second quick death waits twice as long (backoff), and is restarted again.
    stack.processes["beta"].popen.send_signal(signal.SIGKILL)  # type: ignore[union-attr]
    assert _pid_of(stack, "beta") not in (first, second)
    assert any("restarting it in 0.4 s" in n for n in notices)
    # A kill on purpose is not restarted.
    stack.kill("alpha")
    time.sleep(0.5)
    assert not stack.processes["alpha"].alive
    pids = [proc.pid for proc in stack.processes.values()]
    stack.stop()
    assert wait_dead([pid for pid in pids if pid is not None]) == []


def test_the_supervisor_restarts_a_child_that_exits_with_an_error_code(tmp_path: Path, stacks: list[Stack]) -> None:
    stack = Stack(fake_settings(tmp_path, services=[fake("alpha")], gateway=None, restart=True, restart_delay_s=0.1))
    stacks.append(stack)
    stack.start()
    before = stack.processes["alpha"].pid
    httpx.post(f"{stack.urls['alpha']}/exit?code=3", headers={"x-service-token": stack.token}, timeout=10)
    # wait() supervises on the calling thread; stop it once the child is back.
    deadline = time.monotonic() + 30
    while stack.restarts("alpha") == 0 or not stack.processes["alpha"].alive:
        assert time.monotonic() < deadline
        stack.supervise()
        time.sleep(0.05)
    assert _pid_of(stack, "alpha") != before


def test_restart_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="restart_delay_s"):
        Stack(fake_settings(tmp_path, restart_delay_s=0))
    with pytest.raises(StackError, match="restart=True"):
        Stack(fake_settings(tmp_path)).supervise_in_background()
