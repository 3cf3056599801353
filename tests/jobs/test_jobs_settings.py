"""The jobs settings: variables, limits, and refusals that name the variable."""

from __future__ import annotations

import pytest

from retouch.jobs.settings import JobsSettings
from retouch.runtime.settings import SettingsError, load_settings


def test_variables_are_read_with_the_seed_names() -> None:
    settings = load_settings(
        JobsSettings,
        {
            "GENERATION_SERVICE_URL": "http://gen:9000",
            "RETOUCH_JOBS_MAX_RUNNING": "3",
            "RETOUCH_JOBS_ENGINE_LIMITS": "qwen=1,classic=8",
            "RETOUCH_JOBS_ENGINES": "classic,qwen",
            "RETOUCH_JOBS_WATCHDOG_SECONDS": "30",
            "RETOUCH_JOBS_BACKEND": "modal",
        },
    )
    assert settings.generation_service_url == "http://gen:9000"
    assert (settings.limit_for("qwen"), settings.limit_for("classic"), settings.limit_for("other")) == (1, 8, 3)
    assert settings.engines == ["classic", "qwen"]
    assert settings.watchdog_s == 30.0 and settings.backend == "modal"


def test_durations_are_read_from_their_documented_seconds_variables() -> None:
    names = ("WATCHDOG", "TTL", "EXPIRY_INTERVAL", "SYNC_WAIT", "HEARTBEAT", "CANCEL_WAIT", "CANCEL_LINGER")
    more = ("ENGINE_RETRY", "ENGINE_RETRY_MAX", "WEBHOOK_RETRY_BASE", "WEBHOOK_RETRY_MAX", "WEBHOOK_TIMEOUT")
    env = {f"RETOUCH_JOBS_{name}_SECONDS": str(i + 1) for i, name in enumerate(names + more)}
    settings = load_settings(JobsSettings, env)
    fields = [f"{name.lower()}_s" for name in names + more]
    assert [getattr(settings, field) for field in fields] == [float(i + 1) for i in range(len(fields))]


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"RETOUCH_JOBS_SYNC_WAIT_SECONDS": "150"}, "RETOUCH_JOBS_SYNC_WAIT_SECONDS"),
        ({"RETOUCH_JOBS_MAX_RUNNING": "0"}, "RETOUCH_JOBS_MAX_RUNNING"),
        ({"RETOUCH_JOBS_WATCHDOG_SECONDS": "0"}, "RETOUCH_JOBS_WATCHDOG_SECONDS"),
        ({"RETOUCH_JOBS_ENGINE_LIMITS": "qwen=0"}, "RETOUCH_JOBS_ENGINE_LIMITS"),
        ({"RETOUCH_JOBS_MAX_RUNNING": "many"}, "RETOUCH_JOBS_MAX_RUNNING"),
        ({"RETOUCH_JOBS_BACKEND": "cloud"}, "RETOUCH_JOBS_BACKEND"),
        ({"RETOUCH_JOBS_CANCEL_LINGER_SECONDS": "-1"}, "RETOUCH_JOBS_CANCEL_LINGER_SECONDS"),
        ({"RETOUCH_JOBS_CANCEL_LINGER_SECONDS": "600"}, "RETOUCH_JOBS_CANCEL_LINGER_SECONDS"),
    ],
)
def test_bad_values_fail_naming_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        load_settings(JobsSettings, env)
