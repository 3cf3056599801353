"""``retouch-local models``: the learned models an engine can use, pulled from their publishers.

Each model of the :data:`CATALOG` is one file with a pinned SHA-256 (and, where the publisher
documents one, an MD5 too), fetched from where its publishers put it: a Hugging Face Hub repository
(through ``huggingface_hub``, so ``HF_ENDPOINT`` and ``HF_TOKEN`` apply) or a release URL
(``RETOUCH_MODELS_MIRROR`` replaces its scheme and host, for a mirror with the same paths).

:func:`pull` downloads into ``<models dir>/<name>/<file>.part`` with a progress callback, resumes
an interrupted download with an HTTP ``Range`` request (automatically, ``retries`` times, and on
the next pull), checks the size and the checksums, and only then renames the file into place and
writes its manifest (``retouch.runtime.models``), which is what the services look for. A file
whose checksum differs is deleted, never installed.

``RETOUCH_MODELS_CATALOG`` names a JSON file of further entries (a list of objects with the fields
of :class:`ModelSpec`); an entry with a built-in name replaces it (private mirrors, or a newer
upload with its own pins).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import msgspec

from retouch.runtime.models import InstalledModel, read_manifest, write_manifest

__all__ = [
    "CATALOG",
    "ChecksumError",
    "DownloadError",
    "DownloadInterrupted",
    "ModelSpec",
    "Progress",
    "catalog",
    "models_dir",
    "partial_size",
    "pull",
    "remove",
    "source_url",
]

#: Called as ``progress(done_bytes, total_bytes_or_None)`` while a file downloads.
Progress = Callable[[int, int | None], None]

_CHUNK = 1 << 20


class ModelSpec(msgspec.Struct, kw_only=True, frozen=True):
    """One pullable model: what it is, where its publishers put it, and its pins."""

    #: The name ``models pull`` takes; also its folder in the models directory.
    name: str
    #: The engine that uses it, and the service that runs that engine.
    engine: str
    service: str
    #: The file's name once installed.
    file: str
    #: Lower-case hex SHA-256 of the file.
    sha256: str
    #: Its size in bytes (checked before the hashes), when known.
    size: int | None = None
    #: An MD5 the publisher documents, checked as well.
    md5: str | None = None
    #: A release URL...
    url: str | None = None
    #: ... or a Hugging Face Hub repository, file and revision.
    hf_repo: str | None = None
    hf_file: str | None = None
    hf_revision: str = "main"
    description: str = ""
    license: str = ""

    def __post_init__(self) -> None:
        if (self.url is None) == (self.hf_repo is None):
            raise ValueError(f"model {self.name!r}: give exactly one source, url or hf_repo")
        if len(self.sha256) != 64 or any(c not in "0123456789abcdef" for c in self.sha256):
            raise ValueError(f"model {self.name!r}: sha256 must be 64 lower-case hex digits")
        if Path(self.file).name != self.file or not self.file:
            raise ValueError(f"model {self.name!r}: file must be a plain file name, got {self.file!r}")


#: The built-in models. Pins: big-lama.pt is the TorchScript export IOPaint's author publishes
#: (Sanster/models, release add_big_lama); its MD5 is the one IOPaint checks, and its size and
#: SHA-256 are those of that same file (205,669,692 bytes) as projects that pin it record them. (A
#: re-export published elsewhere, 205,803,670 bytes, SHA-256 7ba7aa7a..., is another file: pinning
#: it against this URL refused every real download.) mobile_sam.pt is the MobileSAM repository's own file at a fixed
#: commit; FastSAM-s.pt the ultralytics release asset.
CATALOG: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="lama",
            engine="lama",
            service="generation",
            file="big-lama.pt",
            url="https://github.com/Sanster/models/releases/download/add_big_lama/big-lama.pt",
            sha256="344c77bbcb158f17dd143070d1e789f38a66c04202311ae3a258ef66667a9ea9",
            md5="e3aa4aaa15225a33ec84f9f4bc47e500",
            size=205_669_692,
            description="LaMa (big-lama) removal, TorchScript; the default removal engine once pulled",
            license="Apache-2.0",
        ),
        ModelSpec(
            name="mobile_sam",
            engine="mobile_sam",
            service="segmentation",
            file="mobile_sam.pt",
            url=(
                "https://raw.githubusercontent.com/ChaoningZhang/MobileSAM/"
                "f706ad9c4eb7f219c00d9050e46328518ffb65d2/weights/mobile_sam.pt"
            ),
            sha256="6dbb90523a35330fedd7f1d3dfc66f995213d81b29a5ca8108dbcdd4e37d6c2f",
            size=40_728_226,
            description="MobileSAM promptable smart masks, fast on a CPU",
            license="Apache-2.0",
        ),
        ModelSpec(
            name="fastsam_s",
            engine="fastsam",
            service="segmentation",
            file="FastSAM-s.pt",
            url="https://github.com/ultralytics/assets/releases/download/v8.4.0/FastSAM-s.pt",
            sha256="c9f78716a81c7aff0d608ccc73e1b82ab3aaad86005049f6a92106a0be6d0844",
            size=23_851_578,
            description="FastSAM-s weights for the fastsam smart-mask engine",
            license="AGPL-3.0",
        ),
    )
}


class DownloadError(RuntimeError):
    """A model could not be fetched (the message says why and from where)."""


class DownloadInterrupted(DownloadError):
    """The connection broke before the file was complete; what arrived is kept for a resume."""


class ChecksumError(DownloadError):
    """The file arrived but is not the pinned one; it was deleted."""


def catalog(environ: Mapping[str, str] | None = None) -> dict[str, ModelSpec]:
    """The built-in catalogue plus ``RETOUCH_MODELS_CATALOG``'s entries (which win by name)."""
    env = os.environ if environ is None else environ
    entries = dict(CATALOG)
    extra = env.get("RETOUCH_MODELS_CATALOG", "").strip()
    if extra:
        try:
            specs = msgspec.json.decode(Path(extra).read_bytes(), type=list[ModelSpec])
        except OSError as exc:
            raise DownloadError(f"RETOUCH_MODELS_CATALOG={extra!r}: {exc.strerror or exc}") from None
        except (msgspec.ValidationError, msgspec.DecodeError, ValueError) as exc:
            raise DownloadError(f"RETOUCH_MODELS_CATALOG={extra!r} is not a valid catalogue: {exc}") from None
        entries.update({spec.name: spec for spec in specs})
    return entries


def models_dir(data_dir: Path, environ: Mapping[str, str] | None = None) -> Path:
    """Where models are installed: ``RETOUCH_MODELS_DIR``, else ``<data dir>/models`` (what
    ``retouch-local serve`` hands every service)."""
    env = os.environ if environ is None else environ
    configured = env.get("RETOUCH_MODELS_DIR", "").strip()
    return Path(configured).expanduser() if configured else data_dir / "models"


def source_url(spec: ModelSpec, environ: Mapping[str, str] | None = None) -> str:
    """The URL ``spec`` is fetched from (``HF_ENDPOINT`` and ``RETOUCH_MODELS_MIRROR`` applied)."""
    env = os.environ if environ is None else environ
    if spec.hf_repo is not None:
        from huggingface_hub import hf_hub_url

        if env.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
            raise DownloadError(f"{spec.name} comes from the Hugging Face Hub, and HF_HUB_OFFLINE is set")

        endpoint = env.get("HF_ENDPOINT", "").strip().rstrip("/") or None
        url: str = hf_hub_url(spec.hf_repo, spec.hf_file or spec.file, revision=spec.hf_revision, endpoint=endpoint)
        return url
    assert spec.url is not None
    mirror = env.get("RETOUCH_MODELS_MIRROR", "").strip().rstrip("/")
    if not mirror:
        return spec.url
    base, original = urlsplit(mirror), urlsplit(spec.url)
    return urlunsplit((base.scheme, base.netloc, base.path + original.path, original.query, ""))


def _headers(spec: ModelSpec) -> dict[str, str]:
    if spec.hf_repo is None:
        return {"User-Agent": "retouch-models"}
    from huggingface_hub.utils import build_hf_headers  # type: ignore[attr-defined]

    # The user agent, and the user's token (HF_TOKEN or `hf auth login`) for gated repositories;
    # httpx drops Authorization when the Hub redirects to its CDN.
    headers: dict[str, str] = build_hf_headers(library_name="retouch-models")
    return headers


def partial_size(folder: Path, spec: ModelSpec) -> int:
    """Bytes of an interrupted download of ``spec`` waiting in ``folder`` (0: none)."""
    try:
        return (folder / (spec.file + ".part")).stat().st_size
    except OSError:
        return 0


def _content_range(value: str | None) -> tuple[int, int | None] | None:
    """``(start, total)`` of a ``Content-Range: bytes start-end/total`` header."""
    if not value or not value.startswith("bytes "):
        return None
    span, _, total = value[6:].partition("/")
    start, _, _ = span.partition("-")
    try:
        return int(start), (int(total) if total.strip() not in ("", "*") else None)
    except ValueError:
        return None


def _fetch(url: str, part: Path, spec: ModelSpec, progress: Progress, timeout_s: float) -> None:
    """Download ``url`` into ``part``, continuing what is already there; raises
    :class:`DownloadInterrupted` when the connection breaks."""
    offset = part.stat().st_size if part.exists() else 0
    if spec.size is not None and offset > spec.size:
        part.unlink()
        offset = 0
    if spec.size is not None and offset == spec.size:
        progress(offset, spec.size)
        return
    headers = _headers(spec)
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        with httpx.stream("GET", url, headers=headers, follow_redirects=True, timeout=timeout_s) as response:
            if response.status_code == 416 and offset:
                # Nothing left to send: the part is complete (the checksum decides if it is right).
                progress(offset, offset)
                return
            if response.status_code == 206:
                content_range = _content_range(response.headers.get("content-range"))
                if content_range is None or content_range[0] != offset:
                    raise DownloadError(
                        f"{url} answered a range request with {response.headers.get('content-range')!r}"
                    )
                total = content_range[1]
            elif response.status_code == 200:
                offset = 0  # the server ignored the Range header: start again
                length = response.headers.get("content-length")
                total = int(length) if length and length.isdigit() else None
            else:
                raise DownloadError(f"{url} answered HTTP {response.status_code} {response.reason_phrase}".rstrip())
            total = total or spec.size
            done = offset
            progress(done, total)
            with part.open("ab" if offset else "wb") as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)
                    done += len(chunk)
                    progress(done, total)
    except httpx.TransportError as exc:
        kept = part.stat().st_size if part.exists() else 0
        raise DownloadInterrupted(
            f"the download of {spec.name} from {url} broke off after {kept} bytes ({type(exc).__name__}: {exc})"
        ) from None


def _verify(path: Path, spec: ModelSpec) -> None:
    size = path.stat().st_size
    if spec.size is not None and size != spec.size:
        path.unlink()
        raise ChecksumError(f"{spec.file} has {size} bytes, not the pinned {spec.size}; the download was discarded")
    sha256, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with path.open("rb") as source:
        while chunk := source.read(_CHUNK):
            sha256.update(chunk)
            md5.update(chunk)
    if sha256.hexdigest() != spec.sha256:
        path.unlink()
        raise ChecksumError(
            f"{spec.file} has SHA-256 {sha256.hexdigest()}, not the pinned {spec.sha256}; the download was discarded"
        )
    if spec.md5 is not None and md5.hexdigest() != spec.md5:
        path.unlink()
        raise ChecksumError(
            f"{spec.file} has MD5 {md5.hexdigest()}, not the pinned {spec.md5}; the download was discarded"
        )


def pull(
    spec: ModelSpec,
    directory: Path,
    *,
    progress: Progress | None = None,
    retries: int = 3,
    timeout_s: float = 60.0,
    environ: Mapping[str, str] | None = None,
) -> InstalledModel:
    """Download, verify and install ``spec`` under ``directory``; returns the installed model.

    An installed copy with the same pin is kept as is. A broken connection is resumed up to
    ``retries`` times, then :class:`DownloadInterrupted` is raised (the next pull resumes).
    """
    folder = directory / spec.name
    installed = read_manifest(folder)
    if installed is not None and installed.sha256 == spec.sha256:
        return installed
    folder.mkdir(parents=True, exist_ok=True)
    url = source_url(spec, environ)
    part = folder / (spec.file + ".part")
    report = progress or (lambda done, total: None)
    for attempt in range(retries + 1):
        try:
            _fetch(url, part, spec, report, timeout_s)
            break
        except DownloadInterrupted:
            if attempt == retries:
                raise
    _verify(part, spec)
    target = folder / spec.file
    part.replace(target)
    model = InstalledModel(
        name=spec.name, file=spec.file, engine=spec.engine, sha256=spec.sha256, size=target.stat().st_size, source=url
    )
    write_manifest(folder, model)
    installed = read_manifest(folder)
    assert installed is not None
    return installed


def remove(name: str, directory: Path) -> bool:
    """Delete model ``name`` (installed or partly downloaded); ``False`` if there was nothing."""
    if Path(name).name != name or name in ("", ".", ".."):
        raise ValueError(f"not a model name: {name!r}")
    folder = directory / name
    if not folder.is_dir():
        return False
    shutil.rmtree(folder)
    return True
