"""Service discovery from the ``retouch.services`` entry points and --only/--without selection."""

from __future__ import annotations

import pytest

from retouch.local.services import GATEWAY, ServiceSpec, StackError, discover_services, select_services, url_var

ALL = [
    ServiceSpec(n, f"retouch.{n}.app:create_app") for n in ("job_manager", "generation", "image_utils", "segmentation")
]


def test_discovers_the_installed_services_in_start_order() -> None:
    found = {spec.name: spec.factory for spec in discover_services()}
    # Every service package of the workspace registers its factory under the group.
    assert found == {
        "image_utils": "retouch.image_utils.app:create_app",
        "segmentation": "retouch.segmentation.app:create_app",
        "generation": "retouch.generation.app:create_app",
        "job_manager": "retouch.jobs.app:create_app",
    }
    assert [spec.name for spec in discover_services()] == ["image_utils", "segmentation", "generation", "job_manager"]


def test_an_unknown_group_has_no_services() -> None:
    assert discover_services("retouch.no-such-group") == []


def test_select_keeps_the_known_order() -> None:
    assert [s.name for s in select_services(ALL)] == ["image_utils", "segmentation", "generation", "job_manager"]


def test_only_and_without() -> None:
    assert [s.name for s in select_services(ALL, only=["generation", "image_utils"])] == ["image_utils", "generation"]
    assert [s.name for s in select_services(ALL, without=["generation"])] == [
        "image_utils",
        "segmentation",
        "job_manager",
    ]
    assert [s.name for s in select_services(ALL, only=["generation"], without=["generation"])] == []


def test_unknown_names_are_refused_with_the_installed_ones_listed() -> None:
    with pytest.raises(StackError, match=r"unknown service nope \(installed: generation, image_utils"):
        select_services(ALL, without=["nope"])
    with pytest.raises(StackError, match="unknown service nope"):
        select_services(ALL, only=["nope"])


def test_extra_services_add_or_replace() -> None:
    custom = ServiceSpec("generation", "my.gen:create_app")
    chosen = {s.name: s.factory for s in select_services(ALL, extra=[custom, ServiceSpec("zeta", "z:f")])}
    assert chosen["generation"] == "my.gen:create_app"
    assert "zeta" in chosen
    assert list(chosen)[-1] == "zeta"


def test_parse_service_option() -> None:
    assert ServiceSpec.parse("alpha=pkg.mod:make") == ServiceSpec("alpha", "pkg.mod:make")
    for bad in ("alpha", "alpha=pkg.mod", "=pkg:make"):
        with pytest.raises(StackError, match="NAME=MODULE:FUNCTION"):
            ServiceSpec.parse(bad)


def test_url_variables_are_the_seeds_names() -> None:
    assert url_var("job_manager") == "JOB_MANAGER_SERVICE_URL"
    assert ServiceSpec("image_utils", "x:y").url_var == "IMAGE_UTILS_SERVICE_URL"


def test_importable() -> None:
    assert ServiceSpec("rt", "retouch.runtime.serve:main").importable()
    assert not ServiceSpec("no", "retouch.no_such_package.app:create_app").importable()
    assert GATEWAY.factory == "retouch.gateway.app:create_app"
