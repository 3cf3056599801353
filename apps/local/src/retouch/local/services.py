"""Which services make up the stack: the installed ``retouch.services`` entry points + the gateway."""

from __future__ import annotations

import importlib.metadata
import importlib.util
from collections.abc import Collection, Iterable
from dataclasses import dataclass

__all__ = [
    "ENTRY_POINT_GROUP",
    "GATEWAY",
    "SERVICE_ORDER",
    "ServiceSpec",
    "StackError",
    "discover_services",
    "select_services",
    "url_var",
]

#: The entry-point group every service package registers its app factory under.
ENTRY_POINT_GROUP = "retouch.services"
#: Start-up and display order of the known services; others follow by name.
SERVICE_ORDER = ("image_utils", "segmentation", "generation", "job_manager")


class StackError(RuntimeError):
    """The local stack cannot be configured or started; the message says why."""


@dataclass(frozen=True)
class ServiceSpec:
    """One process of the stack: its name (``image_utils``) and app factory (``module:function``)."""

    name: str
    factory: str

    @property
    def url_var(self) -> str:
        """The variable other processes find this service's URL in (``IMAGE_UTILS_SERVICE_URL``)."""
        return url_var(self.name)

    @property
    def module(self) -> str:
        """The module holding the factory."""
        return self.factory.partition(":")[0]

    def importable(self) -> bool:
        """Whether the factory's module exists (without importing the module itself)."""
        try:
            return importlib.util.find_spec(self.module) is not None
        except (ImportError, ValueError):
            return False

    @classmethod
    def parse(cls, text: str) -> ServiceSpec:
        """``name=module:function`` (as given to ``--service``)."""
        name, sep, factory = text.partition("=")
        if not sep or not name.strip() or ":" not in factory:
            raise StackError(f"--service expects NAME=MODULE:FUNCTION, got {text!r}")
        return cls(name.strip(), factory.strip())


def url_var(name: str) -> str:
    """The seed's variable for service ``name``'s URL: ``job_manager`` -> ``JOB_MANAGER_SERVICE_URL``."""
    return f"{name.upper()}_SERVICE_URL"


#: The public entry point; started last, once every service answers.
GATEWAY = ServiceSpec("gateway", "retouch.gateway.app:create_app")


def _order(name: str) -> tuple[int, str]:
    return (SERVICE_ORDER.index(name), "") if name in SERVICE_ORDER else (len(SERVICE_ORDER), name)


def discover_services(group: str = ENTRY_POINT_GROUP) -> list[ServiceSpec]:
    """The services installed in this environment, in start-up order."""
    found: dict[str, ServiceSpec] = {}
    for entry in importlib.metadata.entry_points(group=group):
        found.setdefault(entry.name, ServiceSpec(entry.name, entry.value))
    return sorted(found.values(), key=lambda spec: _order(spec.name))


def select_services(
    available: Iterable[ServiceSpec],
    *,
    only: Collection[str] = (),
    without: Collection[str] = (),
    extra: Iterable[ServiceSpec] = (),
) -> list[ServiceSpec]:
    """``available`` plus ``extra`` (which replace same-named ones), narrowed by ``only`` and
    ``without``. A name in ``only``/``without`` that is not a service is an error."""
    specs = {spec.name: spec for spec in available}
    specs.update({spec.name: spec for spec in extra})
    unknown = sorted((set(only) | set(without)) - specs.keys())
    if unknown:
        known = ", ".join(sorted(specs)) or "none"
        raise StackError(f"unknown service {', '.join(unknown)} (installed: {known})")
    chosen = [spec for name, spec in specs.items() if (not only or name in only) and name not in without]
    return sorted(chosen, key=lambda spec: _order(spec.name))
