"""Settings from the environment: parsing, mapping to the seed's names, errors naming the variable."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest

from retouch.runtime.settings import ServiceSettings, SettingsError, env_name, env_names, load_settings, new_token


class DemoSettings(ServiceSettings, kw_only=True):
    __env__: ClassVar[dict[str, str]] = {"generation_url": "GENERATION_SERVICE_URL"}

    generation_url: str = "http://127.0.0.1:8001"
    api_keys: list[str] = []
    limits: dict[str, str] = {}
    engine: str | None = None
    origins: list[str] | None = None
    ratio: float = 1.0


def test_defaults_without_environment() -> None:
    settings = load_settings(DemoSettings, {})
    assert settings == DemoSettings()
    assert settings.service_token is None
    assert settings.max_body_bytes == 64 * 1024 * 1024
    assert settings.log_json is True
    assert settings.data_dir == Path("./.retouch-data")


def test_values_are_parsed_per_type() -> None:
    env = {
        "RETOUCH_MAX_BODY_BYTES": "1024",
        "RETOUCH_LOG_JSON": "false",
        "RETOUCH_DATA_DIR": "/var/retouch",
        "RETOUCH_API_KEYS": " k1, k2 ,,",
        "RETOUCH_LIMITS": "a=1, b = 2",
        "RETOUCH_RATIO": "0.5",
        "RETOUCH_SERVICE_TOKEN": "tok",
        "GENERATION_SERVICE_URL": "http://gen:9",
        "RETOUCH_ORIGINS": "http://a,http://b",
    }
    settings = load_settings(DemoSettings, env)
    assert settings.max_body_bytes == 1024
    assert settings.log_json is False
    assert settings.data_dir == Path("/var/retouch")
    assert isinstance(settings.data_dir, Path)
    assert settings.api_keys == ["k1", "k2"]
    assert settings.limits == {"a": "1", "b": "2"}
    assert settings.ratio == 0.5
    assert settings.service_token == "tok"
    assert settings.generation_url == "http://gen:9"
    assert settings.origins == ["http://a", "http://b"]


def test_a_subclass_mapping_adds_to_its_bases() -> None:
    # DemoSettings maps its own field; the base's duration keeps its documented variable.
    settings = load_settings(
        DemoSettings, {"RETOUCH_METRICS_PUSH_SECONDS": "2.5", "GENERATION_SERVICE_URL": "http://g"}
    )
    assert (settings.metrics_push_s, settings.generation_url) == (2.5, "http://g")
    assert env_name(DemoSettings, "metrics_push_s") == "RETOUCH_METRICS_PUSH_SECONDS"


def test_env_names_prefix_fields_and_keep_the_documented_names_of_durations() -> None:
    assert env_names("RETOUCH_X_", ("engine", "wait_s")) == {"engine": "RETOUCH_X_ENGINE", "wait_s": "RETOUCH_X_WAIT_S"}
    assert env_names("RETOUCH_X_", ("engine", "wait_s"), seconds="_SECONDS") == {
        "engine": "RETOUCH_X_ENGINE",
        "wait_s": "RETOUCH_X_WAIT_SECONDS",
    }
    assert env_names("RETOUCH_", ("read_timeout_s",), seconds="") == {"read_timeout_s": "RETOUCH_READ_TIMEOUT"}


def test_empty_optional_is_none() -> None:
    assert load_settings(DemoSettings, {"RETOUCH_ENGINE": ""}).engine is None
    assert load_settings(DemoSettings, {"RETOUCH_ENGINE": "classic"}).engine == "classic"


def test_mapped_fields_ignore_the_default_name() -> None:
    settings = load_settings(DemoSettings, {"RETOUCH_GENERATION_URL": "http://wrong:1"})
    assert settings.generation_url == "http://127.0.0.1:8001"
    assert env_name(DemoSettings, "generation_url") == "GENERATION_SERVICE_URL"
    assert env_name(DemoSettings, "max_body_bytes") == "RETOUCH_MAX_BODY_BYTES"


def test_overrides_win_over_the_environment() -> None:
    settings = load_settings(DemoSettings, {"RETOUCH_MAX_BODY_BYTES": "1024"}, max_body_bytes=5, data_dir="/x")
    assert settings.max_body_bytes == 5
    assert settings.data_dir == Path("/x")


def test_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETOUCH_CPU_WORKERS", "7")
    assert load_settings(ServiceSettings).cpu_workers == 7


@pytest.mark.parametrize(
    ("var", "raw"),
    [
        ("RETOUCH_MAX_BODY_BYTES", "lots"),
        ("RETOUCH_LOG_JSON", "perhaps"),
        ("RETOUCH_RATIO", "half"),
        ("RETOUCH_CPU_WORKERS", "1.5"),
    ],
)
def test_a_bad_value_names_the_variable_and_the_value(var: str, raw: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(DemoSettings, {var: raw})
    assert var in str(info.value)
    assert repr(raw) in str(info.value)


@pytest.mark.parametrize(
    "var", ["RETOUCH_MAX_BODY_BYTES", "RETOUCH_MAX_IMAGE_PIXELS", "RETOUCH_MAX_IMAGE_SIDE", "RETOUCH_CPU_WORKERS"]
)
def test_limits_must_be_positive(var: str) -> None:
    with pytest.raises(SettingsError, match=f"{var} must be positive, got 0"):
        load_settings(ServiceSettings, {var: "0"})
    with pytest.raises(SettingsError, match=var):
        ServiceSettings(**{var.removeprefix("RETOUCH_").lower(): -1})


def test_new_token_is_random_and_long() -> None:
    tokens = {new_token() for _ in range(5)}
    assert len(tokens) == 5
    assert all(len(token) >= 32 for token in tokens)


def test_server_settings_read_their_documented_variables() -> None:
    from retouch.runtime.protocol import ServerSettings

    server = load_settings(
        ServerSettings, environ={"RETOUCH_HEADER_TIMEOUT": "2.5", "RETOUCH_MAX_CONNECTIONS_PER_CLIENT": "8"}
    )
    assert (server.header_timeout_s, server.max_connections_per_client) == (2.5, 8)
    assert load_settings(ServerSettings, environ={}).max_connections_per_client == 0


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"RETOUCH_HEADER_TIMEOUT": "soon"}, "RETOUCH_HEADER_TIMEOUT"),
        ({"RETOUCH_HEADER_TIMEOUT": "0"}, "RETOUCH_HEADER_TIMEOUT"),
        ({"RETOUCH_MAX_CONNECTIONS_PER_CLIENT": "-1"}, "RETOUCH_MAX_CONNECTIONS_PER_CLIENT"),
        ({"RETOUCH_MAX_CONNECTIONS_PER_CLIENT": "many"}, "RETOUCH_MAX_CONNECTIONS_PER_CLIENT"),
    ],
)
def test_server_settings_refuse_bad_values_naming_the_variable(env: dict[str, str], variable: str) -> None:
    from retouch.runtime.protocol import ServerSettings

    with pytest.raises(SettingsError, match=variable):
        load_settings(ServerSettings, environ=env)


def test_serve_refuses_a_bad_server_setting_before_it_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    from retouch.runtime import serve

    monkeypatch.setenv("RETOUCH_HEADER_TIMEOUT", "-3")
    with pytest.raises(SystemExit) as exited:
        serve.main(["retouch.image_utils.app:create_app", "--port", "1"])
    assert exited.value.code == 2
