"""How the stack wires each child's environment, and which settings it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from retouch.local import ServiceSpec, Stack, StackError, StackSettings
from retouch.local.services import GATEWAY
from retouch.local.stack import build_env, default_web_dir

URLS = {
    "image_utils": "http://127.0.0.1:1001",
    "segmentation": "http://127.0.0.1:1002",
    "generation": "http://127.0.0.1:1003",
    "job_manager": "http://127.0.0.1:1004",
}
SERVICE = ServiceSpec("image_utils", "retouch.image_utils.app:create_app")


def _env(settings: StackSettings, spec: ServiceSpec = SERVICE, web_dir: Path | None = None) -> dict[str, str]:
    return build_env(settings, spec, urls=URLS, token="tok", data_dir=Path("/data"), web_dir=web_dir)


def test_every_child_gets_every_service_url_the_token_and_its_own_data_dir() -> None:
    env = _env(StackSettings(base_env={"PATH": "/bin"}))
    assert env["IMAGE_UTILS_SERVICE_URL"] == "http://127.0.0.1:1001"
    assert env["SEGMENTATION_SERVICE_URL"] == "http://127.0.0.1:1002"
    assert env["GENERATION_SERVICE_URL"] == "http://127.0.0.1:1003"
    assert env["JOB_MANAGER_SERVICE_URL"] == "http://127.0.0.1:1004"
    assert env["RETOUCH_SERVICE_TOKEN"] == "tok"
    assert env["RETOUCH_DATA_DIR"] == "/data/image_utils"
    assert env["PATH"] == "/bin"
    assert env["PYTHONUNBUFFERED"] == "1"


def test_engines_default_to_auto_with_one_models_dir_but_the_environment_wins() -> None:
    env = _env(StackSettings(base_env={}))
    # auto: each service runs the engine whose model is installed, else its weightless one.
    assert env["RETOUCH_GENERATION_ENGINE"] == "auto"
    assert env["RETOUCH_SEGMENTATION_ENGINE"] == "auto"
    assert env["RETOUCH_MODELS_DIR"] == "/data/models"
    assert _env(StackSettings(base_env={"RETOUCH_MODELS_DIR": "/m"}))["RETOUCH_MODELS_DIR"] == "/m"
    env = _env(
        StackSettings(base_env={"RETOUCH_GENERATION_ENGINE": "qwen"}, env={"RETOUCH_SEGMENTATION_ENGINE": "fastsam"})
    )
    assert env["RETOUCH_GENERATION_ENGINE"] == "qwen"
    assert env["RETOUCH_SEGMENTATION_ENGINE"] == "fastsam"


def test_the_stack_overrides_inherited_wiring() -> None:
    stale = {"RETOUCH_SERVICE_TOKEN": "old", "RETOUCH_DATA_DIR": "/elsewhere", "GENERATION_SERVICE_URL": "http://x:1"}
    env = _env(StackSettings(base_env=stale))
    assert env["RETOUCH_SERVICE_TOKEN"] == "tok"
    assert env["RETOUCH_DATA_DIR"] == "/data/image_utils"
    assert env["GENERATION_SERVICE_URL"] == "http://127.0.0.1:1003"


def test_extra_env_is_passed_to_every_child() -> None:
    env = _env(StackSettings(base_env={"A": "1"}, env={"RETOUCH_MAX_BODY_BYTES": "4096", "A": "2"}))
    assert env["RETOUCH_MAX_BODY_BYTES"] == "4096"
    assert env["A"] == "2"


def test_log_format_picks_the_childrens_log_style() -> None:
    assert _env(StackSettings(base_env={}))["RETOUCH_LOG_JSON"] == "false"
    assert _env(StackSettings(base_env={}, log_format="json"))["RETOUCH_LOG_JSON"] == "true"
    assert _env(StackSettings(base_env={"RETOUCH_LOG_JSON": "true"}))["RETOUCH_LOG_JSON"] == "true"


def test_only_the_gateway_gets_keys_and_the_web_dir(tmp_path: Path) -> None:
    settings = StackSettings(base_env={}, api_keys="k1,k2")
    gateway = _env(settings, GATEWAY, web_dir=tmp_path)
    assert gateway["RETOUCH_API_KEYS"] == "k1,k2"
    assert gateway["RETOUCH_WEB_DIR"] == str(tmp_path)
    assert gateway["RETOUCH_DATA_DIR"] == "/data/gateway"
    service = _env(settings, SERVICE, web_dir=tmp_path)
    assert "RETOUCH_API_KEYS" not in service
    assert "RETOUCH_WEB_DIR" not in service


def test_inherited_keys_and_web_dir_are_kept(tmp_path: Path) -> None:
    env = _env(StackSettings(base_env={"RETOUCH_API_KEYS": "k", "RETOUCH_WEB_DIR": "/mine"}), GATEWAY, web_dir=tmp_path)
    assert env["RETOUCH_API_KEYS"] == "k"
    assert env["RETOUCH_WEB_DIR"] == "/mine"


def test_web_dir_is_the_checkouts_apps_web() -> None:
    web = default_web_dir()
    repo = Path(__file__).resolve().parents[2]
    if (repo / "apps" / "web").is_dir():
        assert web == repo / "apps" / "web"
    else:
        assert web is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10"])
def test_non_loopback_without_keys_is_refused(host: str) -> None:
    with pytest.raises(StackError, match="RETOUCH_API_KEYS"):
        Stack(StackSettings(host=host, base_env={}, services=[]))
    with pytest.raises(StackError, match="RETOUCH_API_KEYS"):
        Stack(StackSettings(host=host, base_env={"RETOUCH_API_KEYS": " "}, services=[]))


def test_non_loopback_with_keys_is_allowed() -> None:
    Stack(StackSettings(host="0.0.0.0", api_keys="secret", base_env={}, services=[]))
    Stack(StackSettings(host="0.0.0.0", base_env={"RETOUCH_API_KEYS": "secret"}, services=[]))
    # Without a gateway nothing listens publicly (services always bind 127.0.0.1).
    Stack(StackSettings(host="0.0.0.0", base_env={}, services=[], gateway=None))


def test_bad_port_is_refused() -> None:
    with pytest.raises(StackError, match="port 70000"):
        Stack(StackSettings(port=70000, base_env={}, services=[]))


def test_a_token_is_generated_per_stack_unless_given() -> None:
    a = Stack(StackSettings(base_env={}, services=[]))
    b = Stack(StackSettings(base_env={}, services=[]))
    assert a.token != b.token
    assert len(a.token) >= 32
    assert Stack(StackSettings(base_env={}, services=[], service_token="fixed")).token == "fixed"


def test_data_dir_is_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    stack = Stack(StackSettings(base_env={}, services=[], data_dir="rel"))
    assert stack.data_dir == tmp_path / "rel"


def test_installed_entry_points_with_a_missing_module_are_skipped() -> None:
    stack = Stack(StackSettings(base_env={}))
    names = {spec.name for spec in stack.services} | {spec.name for spec in stack.skipped}
    assert names == {"image_utils", "segmentation", "generation", "job_manager"}
    assert all(not spec.importable() for spec in stack.skipped)
    assert all(spec.importable() for spec in stack.services)


def test_only_the_gateway_caps_connections_per_client_address() -> None:
    inherited = StackSettings(base_env={"RETOUCH_MAX_CONNECTIONS_PER_CLIENT": "40"})
    assert "RETOUCH_MAX_CONNECTIONS_PER_CLIENT" not in _env(inherited)
    assert _env(inherited, GATEWAY)["RETOUCH_MAX_CONNECTIONS_PER_CLIENT"] == "40"
    assert _env(StackSettings(base_env={}), GATEWAY)["RETOUCH_MAX_CONNECTIONS_PER_CLIENT"] == "256"
