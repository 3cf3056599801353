"""What a request's ``model_type`` names: the served engine by one of its own names, or one of the
seed web client's aliases (API.md, Smart mask).

The seed client sends ``"segmentation"`` (its default button: the deployment's promptable engine)
or ``"birefnet"`` (its second button: a salient-object model where one is installed, else the
default). This service serves one engine, so both aliases resolve to it; the answer's
``model_used`` says so. Any other name is a 422 that lists the names served.
"""

from __future__ import annotations

from typing import Final

from retouch.runtime.problems import field_error

__all__ = ["SEED_ALIASES", "resolve_model_type", "served_names"]

#: ``model_type`` values of the seed system's web client, accepted by every deployment.
SEED_ALIASES: Final = frozenset({"segmentation", "birefnet"})


def served_names(engine_name: str, aliases: frozenset[str]) -> list[str]:
    """Every ``model_type`` this service accepts, the engine's own name first."""
    rest = sorted((set(aliases) | SEED_ALIASES) - {engine_name})
    return [engine_name, *rest]


def resolve_model_type(model_type: str | None, engine_name: str, aliases: frozenset[str]) -> str:
    """The engine that will make the mask for ``model_type`` (``None`` means the default); a 422
    naming ``model_type`` and the served names for anything else."""
    if model_type is None:
        return engine_name
    wanted = model_type.strip().lower()
    if wanted in aliases or wanted in SEED_ALIASES or wanted == engine_name:
        return engine_name
    names = ", ".join(repr(name) for name in served_names(engine_name, aliases))
    raise field_error("model_type", f"{model_type!r} is not served here; model_type may be one of {names}")
