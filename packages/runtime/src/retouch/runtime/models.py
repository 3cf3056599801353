"""Learned models installed in the models directory, as ``retouch models pull`` leaves them.

Each model lives in its own folder, ``<models dir>/<name>/``: the weights file and a manifest,
``model.json``, written only after the file's checksum matched its pin (the file is renamed into
place first, so a manifest always names a complete, verified file). The services read manifests
only: which model is installed, where its file is, what it was checked against. They never
download anything.

The models directory is ``RETOUCH_MODELS_DIR`` (``ServiceSettings.models_dir``); the local stack
sets it to ``<data dir>/models`` for every service.
"""

from __future__ import annotations

import logging
from pathlib import Path

import msgspec

__all__ = ["MANIFEST", "InstalledModel", "find_installed", "installed_models", "read_manifest", "write_manifest"]

log = logging.getLogger("retouch.runtime.models")

#: The manifest's file name inside a model's folder.
MANIFEST = "model.json"


class InstalledModel(msgspec.Struct, kw_only=True):
    """A verified model in the models directory (the contents of its ``model.json``)."""

    #: The catalogue name (``lama``, ``mobile_sam``, ...), also the folder's name.
    name: str
    #: The weights file's name inside the model's folder.
    file: str
    #: The engine that uses it (``lama``, ``mobile_sam``, ``fastsam``).
    engine: str
    #: The lower-case hex SHA-256 the file was checked against.
    sha256: str
    size: int
    #: Where it came from (a URL).
    source: str = ""
    #: The folder holding the manifest (set when read; not stored).
    folder: str | None = None

    @property
    def path(self) -> Path:
        """The weights file."""
        if self.folder is None:
            raise ValueError(f"model {self.name!r} was not read from a models directory")
        return Path(self.folder) / self.file


def read_manifest(folder: Path) -> InstalledModel | None:
    """The model installed in ``folder``, or ``None`` if there is none (or it is incomplete).

    A manifest that cannot be read, or whose file is missing or of another size, counts as not
    installed (logged): a service must never start an engine on a half-written file.
    """
    manifest = folder / MANIFEST
    try:
        data = manifest.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("cannot read %s: %s", manifest, exc)
        return None
    try:
        model = msgspec.json.decode(data, type=InstalledModel)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        log.warning("ignoring %s: %s", manifest, exc)
        return None
    if Path(model.file).name != model.file:
        log.warning("ignoring %s: file %r is not a plain file name", manifest, model.file)
        return None
    model.folder = str(folder)
    try:
        size = model.path.stat().st_size
    except OSError:
        log.warning("ignoring %s: %s is missing", manifest, model.path)
        return None
    if size != model.size:
        log.warning("ignoring %s: %s has %d bytes, not %d", manifest, model.path, size, model.size)
        return None
    return model


def write_manifest(folder: Path, model: InstalledModel) -> Path:
    """Write ``model``'s manifest into ``folder`` atomically; returns its path."""
    stored = msgspec.structs.replace(model, folder=None)
    data = msgspec.json.format(msgspec.json.encode(stored), indent=2)
    target = folder / MANIFEST
    partial = folder / (MANIFEST + ".tmp")
    partial.write_bytes(data + b"\n")
    partial.replace(target)
    return target


def installed_models(models_dir: Path | None) -> list[InstalledModel]:
    """Every verified model under ``models_dir``, by name (none when it is unset or missing)."""
    if models_dir is None or not models_dir.is_dir():
        return []
    found = (read_manifest(folder) for folder in sorted(models_dir.iterdir()) if folder.is_dir())
    return [model for model in found if model is not None]


def find_installed(
    models_dir: Path | None, *, name: str | None = None, engine: str | None = None
) -> InstalledModel | None:
    """The installed model called ``name`` (or the first one for ``engine``), or ``None``."""
    if models_dir is None:
        return None
    if name is not None:
        model = read_manifest(models_dir / name)
        if model is not None and (engine is None or model.engine == engine):
            return model
        return None
    return next((model for model in installed_models(models_dir) if model.engine == engine), None)
