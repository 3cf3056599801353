"""House rules of the SDK's public surface, checked by introspection so that drift fails a test.

- ``Client`` and ``AsyncClient`` offer the same resources, and every resource the same methods
  with the same parameters (names, kinds, defaults, annotations); the async ones are awaitable.
- Every public call takes a keyword-only ``timeout`` defaulting to ``NOT_GIVEN``.
- Every public constant has a ``#:`` doc comment (ruff's ``D1`` rules, configured in the root
  ``ruff.toml``, require the docstrings of modules, classes, functions and methods).
- Every image parameter accepts a path, bytes or a PIL image (``ImageInput``).
- Every status error class is exported from ``retouch.sdk``; every contract Struct is kw_only.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

import retouch.sdk
from retouch.sdk import NOT_GIVEN, AsyncClient, Client
from retouch.sdk.errors import _BY_STATUS, APIStatusError
from retouch.sdk.resources import AsyncResource, SyncResource

SDK_ROOT = Path(retouch.sdk.__file__).parent
#: Methods that end a client's life rather than call the API: they differ by design.
LIFECYCLE = {"close", "aclose"}
#: Parameter names that carry an image or a mask.
IMAGE_PARAMS = {
    "image",
    "mask",
    "extracted_image",
    "background",
    "foreground",
    "reference_image",
    "reference_mask",
}


@pytest.fixture(scope="module")
def clients() -> Iterator[tuple[Client, AsyncClient]]:
    sync, asynchronous = Client("http://127.0.0.1:9"), AsyncClient("http://127.0.0.1:9")
    yield sync, asynchronous
    sync.close()


def _resources(client: Client | AsyncClient) -> dict[str, Any]:
    return {
        name: value
        for name, value in vars(client).items()
        if not name.startswith("_") and isinstance(value, SyncResource | AsyncResource)
    }


def _methods(obj: Any) -> dict[str, Any]:
    return {
        name: getattr(obj, name)
        for name in dir(obj)
        if not name.startswith("_") and inspect.ismethod(getattr(obj, name)) and name not in LIFECYCLE
    }


def _shape(func: Any) -> list[tuple[str, Any, Any, str]]:
    # An async twin may take the async flavour of a type (AsyncIterable for Iterable): the same shape.
    return [
        (p.name, p.kind, p.default, re.sub(r"\bAsync", "", str(p.annotation)))
        for p in inspect.signature(func).parameters.values()
    ]


def _pairs(clients: tuple[Client, AsyncClient]) -> list[tuple[str, Any, Any]]:
    """(label, sync object, async object) for each client and each resource."""
    sync, asynchronous = clients
    sync_res, async_res = _resources(sync), _resources(asynchronous)
    assert sorted(sync_res) == sorted(async_res), "Client and AsyncClient must have the same resources"
    assert sync_res, "no resources found: the introspection is broken"
    pairs: list[tuple[str, Any, Any]] = [("client", sync, asynchronous)]
    pairs += [(name, sync_res[name], async_res[name]) for name in sorted(sync_res)]
    return pairs


def test_sync_and_async_clients_have_the_same_resources_and_methods(clients: tuple[Client, AsyncClient]) -> None:
    for label, sync, asynchronous in _pairs(clients):
        assert isinstance(sync, Client | SyncResource) and isinstance(asynchronous, AsyncClient | AsyncResource)
        sync_methods, async_methods = _methods(sync), _methods(asynchronous)
        assert sorted(sync_methods) == sorted(async_methods), f"{label}: methods differ"
        for name, method in sync_methods.items():
            twin = async_methods[name]
            assert _shape(method) == _shape(twin), f"{label}.{name}: parameters differ between sync and async"
            assert inspect.iscoroutinefunction(twin) or inspect.isasyncgenfunction(twin), f"{label}.{name} not async"
            assert not (inspect.iscoroutinefunction(method) or inspect.isasyncgenfunction(method))


def test_shortcuts_are_bound_to_the_same_resource_methods(clients: tuple[Client, AsyncClient]) -> None:
    for client in clients:
        assert client.smart_mask == client.segmentation.smart_mask
        assert client.edit == client.jobs.edit


def test_every_public_call_takes_a_keyword_timeout(clients: tuple[Client, AsyncClient]) -> None:
    checked = 0
    for label, sync, asynchronous in _pairs(clients):
        for obj in (sync, asynchronous):
            for name, method in _methods(obj).items():
                param = inspect.signature(method).parameters.get("timeout")
                assert param is not None, f"{label}.{name} has no timeout="
                assert param.kind is inspect.Parameter.KEYWORD_ONLY, f"{label}.{name}: timeout must be keyword-only"
                assert param.default is NOT_GIVEN, f"{label}.{name}: timeout must default to the client's"
                checked += 1
    assert checked > 40


def test_image_parameters_accept_paths_bytes_and_pil(clients: tuple[Client, AsyncClient]) -> None:
    seen = set()
    for label, sync, asynchronous in _pairs(clients):
        for obj in (sync, asynchronous):
            for name, method in _methods(obj).items():
                for param in inspect.signature(method).parameters.values():
                    if param.name in IMAGE_PARAMS:
                        seen.add(param.name)
                        assert "ImageInput" in str(param.annotation), f"{label}.{name}({param.name}) takes no path/PIL"
    assert seen == IMAGE_PARAMS


def _modules() -> list[str]:
    names = ["retouch.sdk"]
    names += [info.name for info in pkgutil.walk_packages([str(SDK_ROOT)], "retouch.sdk.")]
    return names


def _documented_constant(lines: list[str], node: ast.stmt, following: ast.stmt | None) -> bool:
    above = lines[node.lineno - 2].strip() if node.lineno >= 2 else ""
    if above.startswith("#:"):
        return True
    return (
        isinstance(following, ast.Expr)
        and isinstance(following.value, ast.Constant)
        and isinstance(following.value.value, str)
    )


def _undocumented(path: Path) -> Iterator[str]:
    text = path.read_text()
    lines = text.splitlines()
    tree = ast.parse(text)
    exported = set()
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AugAssign) and "__all__" in ast.unparse(node).split("=")[0]:
            value = node.value
            if isinstance(value, ast.List | ast.Tuple):
                exported |= {e.value for e in value.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}

    def visit(owner: ast.Module | ast.ClassDef, prefix: str) -> Iterator[str]:
        for index, node in enumerate(owner.body):
            if isinstance(owner, ast.Module) and isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                following = owner.body[index + 1] if index + 1 < len(owner.body) else None
                for target in targets:
                    if not isinstance(target, ast.Name) or target.id.startswith("_"):
                        continue
                    public = target.id in exported or target.id.isupper()
                    if public and len(target.id) > 1 and not _documented_constant(lines, node, following):
                        yield target.id

    yield from visit(tree, "")


def test_every_public_constant_has_a_doc_comment() -> None:
    missing = []
    for path in sorted(SDK_ROOT.rglob("*.py")):
        missing += [f"{path.relative_to(SDK_ROOT)}: {name}" for name in _undocumented(path)]
    assert not missing, "undocumented public constants:\n" + "\n".join(missing)


def test_every_status_error_is_exported_from_the_package() -> None:
    for status, cls in _BY_STATUS.items():
        assert issubclass(cls, APIStatusError)
        assert getattr(retouch.sdk, cls.__name__, None) is cls, f"{cls.__name__} ({status}) not in retouch.sdk"
        assert cls.__name__ in retouch.sdk.__all__


def test_every_contract_struct_is_keyword_only() -> None:
    structs = []
    for name in _modules():
        if not name.startswith("retouch.sdk.models"):
            continue
        module = importlib.import_module(name)
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, msgspec.Struct) and value.__module__ == name:
                structs.append(value)
                kinds = {param.kind for param in inspect.signature(value).parameters.values()}
                assert kinds <= {inspect.Parameter.KEYWORD_ONLY}, f"{name}.{value.__name__} is not kw_only"
    assert len(structs) > 20
