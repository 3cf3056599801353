"""The ``/api/assets`` routes of API.md: upload (raw ``image/*`` body or multipart ``file``), fetch,
delete. Owner-scoped like jobs (``X-Retouch-Owner``, set by the gateway)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from retouch.jobs.assets import AssetStore
from retouch.jobs.routes import owner_of
from retouch.runtime.assets import data_key
from retouch.runtime.http import StructResponse
from retouch.runtime.problems import ProblemError, field_error
from retouch.sdk.models.assets import ASSET_FORM_FIELD

__all__ = ["asset_routes"]

_CHUNK = 1024 * 1024


async def _upload_chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(_CHUNK):
        yield chunk


def asset_routes(store: AssetStore, max_bytes: int) -> list[Route]:
    """``POST /api/assets``, ``GET`` / ``DELETE /api/assets/{asset_id}``, bound to ``store``."""

    async def upload(request: Request) -> Response:
        owner = owner_of(request)
        content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if content_type == "multipart/form-data":
            # Starlette spools each part to a temporary file past 1 MiB; nothing is held whole.
            async with request.form(max_files=1, max_fields=8, max_part_size=max_bytes) as form:
                part = form.get(ASSET_FORM_FIELD)
                if not isinstance(part, UploadFile):
                    raise field_error(ASSET_FORM_FIELD, "a multipart upload needs the picture in the form field 'file'")
                asset = await store.upload(owner, _upload_chunks(part), field=ASSET_FORM_FIELD)
        elif content_type.startswith("image/") or content_type == "application/octet-stream":
            asset = await store.upload(owner, request.stream())
        else:
            raise ProblemError(
                415,
                f"Content-Type {content_type or '(none)'} is not an upload: send the picture's bytes as image/* "
                "or multipart/form-data with a 'file' field",
            )
        headers = {"Location": f"/api/assets/{asset.asset_id}"}
        return StructResponse(asset, status_code=201, headers=headers)

    async def fetch(request: Request) -> Response:
        asset_id = request.path_params["asset_id"]
        asset = await store.get(owner_of(request), asset_id)
        chunks = store.blobs.chunks(data_key(asset_id))
        try:
            first = await anext(chunks)
        except (FileNotFoundError, StopAsyncIteration):
            raise ProblemError(404, f"no asset {asset_id}") from None

        async def body() -> AsyncIterator[bytes]:
            yield first
            async for chunk in chunks:
                yield chunk

        headers = {
            "Content-Length": str(asset.bytes),
            "Cache-Control": "private, max-age=31536000, immutable",
            "ETag": f'"{asset_id}"',
        }
        return StreamingResponse(body(), media_type=asset.content_type or "application/octet-stream", headers=headers)

    async def delete(request: Request) -> Response:
        await store.delete(owner_of(request), request.path_params["asset_id"])
        return Response(status_code=204)

    return [
        Route("/api/assets", upload, methods=["POST"]),
        Route("/api/assets/{asset_id}", fetch, methods=["GET"]),
        Route("/api/assets/{asset_id}", delete, methods=["DELETE"]),
    ]
