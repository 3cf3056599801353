"""Gateway settings from the environment: the seed's variables, lists, and bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from retouch.gateway.settings import GatewaySettings
from retouch.runtime import SettingsError, load_settings


def test_seed_variables_and_lists() -> None:
    settings = load_settings(
        GatewaySettings,
        environ={
            "GENERATION_SERVICE_URL": "https://ws--qwen.modal.run/",
            "SEGMENTATION_SERVICE_URL": "http://127.0.0.1:8002",
            "IMAGE_UTILS_SERVICE_URL": "",
            "RETOUCH_API_KEYS": "one, two,,three",
            "RETOUCH_ALLOWED_ORIGINS": "https://a.example,https://b.example",
            "RETOUCH_SCALE_TO_ZERO": "generation,segmentation,image_utils",
            "RETOUCH_WEB_DIR": "/srv/web",
            "RETOUCH_RATE_LIMIT_PER_MINUTE": "0",
            "RETOUCH_HEALTH_TIMEOUT": "1.5",
            "RETOUCH_UPSTREAM_HEADERS": "Modal-Key=wk-1,Modal-Secret=ws=2",
        },
    )
    assert settings.service_url("generation") == "https://ws--qwen.modal.run"
    assert settings.service_url("segmentation") == "http://127.0.0.1:8002"
    assert settings.service_url("image_utils") is None
    assert settings.service_url("job_manager") is None
    assert settings.service_url_var("job_manager") == "JOB_MANAGER_SERVICE_URL"
    assert settings.api_keys == ["one", "two", "three"]
    assert settings.allowed_origins == ["https://a.example", "https://b.example"]
    assert settings.scale_to_zero == ["generation", "segmentation", "image_utils"]
    assert settings.web_dir == Path("/srv/web")
    assert settings.rate_limit_per_minute == 0
    assert settings.health_timeout_s == 1.5
    assert settings.upstream_headers == {"Modal-Key": "wk-1", "Modal-Secret": "ws=2"}


def test_durations_are_read_from_their_documented_variables() -> None:
    names = (
        "CONNECT_TIMEOUT",
        "READ_TIMEOUT",
        "BODY_TIMEOUT",
        "STREAM_IDLE_TIMEOUT",
        "HEALTH_TIMEOUT",
        "HEALTH_CACHE_TTL",
    )
    settings = load_settings(GatewaySettings, environ={f"RETOUCH_{name}": str(i + 1) for i, name in enumerate(names)})
    assert [getattr(settings, f"{name.lower()}_s") for name in names] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]


def test_defaults_are_open_and_local() -> None:
    settings = load_settings(GatewaySettings, environ={})
    assert settings.api_keys == []
    assert settings.allowed_origins == []
    assert settings.scale_to_zero == []
    assert settings.web_dir is None
    assert settings.health_timeout_s == 2.0
    assert settings.health_cache_ttl_s == 2.0


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("IMAGE_UTILS_SERVICE_URL", "127.0.0.1:8002"),
        ("RETOUCH_SCALE_TO_ZERO", "generation,gpu"),
        ("RETOUCH_HEALTH_TIMEOUT", "0"),
        ("RETOUCH_READ_TIMEOUT", "-1"),
        ("RETOUCH_RATE_LIMIT_PER_MINUTE", "-5"),
        ("RETOUCH_RATE_LIMIT_BURST", "0"),
        ("RETOUCH_IDLE_AFTER_S", "soon"),
        ("RETOUCH_UPSTREAM_HEADERS", "Bad Name=1"),
    ],
)
def test_bad_values_name_the_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        load_settings(GatewaySettings, environ={variable: value})
