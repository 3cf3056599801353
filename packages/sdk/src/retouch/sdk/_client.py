"""The two clients. Both take the gateway URL (or ``RETOUCH_URL``), an optional API key (or
``RETOUCH_API_KEY``), a default ``timeout`` and ``max_retries``; every call takes ``timeout=``."""

from __future__ import annotations

import os
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx

from retouch.sdk._base import (
    DEFAULT_TIMEOUT,
    NOT_GIVEN,
    NotGiven,
    RequestSpec,
    Timeout,
    build_request,
    default_headers,
    parse_response,
    raise_for_problem,
    resolve_config,
    translate_transport_error,
)
from retouch.sdk._transport import AsyncRetryTransport, RetryPolicy, RetryTransport
from retouch.sdk.batch import BatchProgress, BatchReport, plan_batch, run_batch, run_batch_async
from retouch.sdk.models.common import Health, SystemHealth
from retouch.sdk.models.generation import TaskType
from retouch.sdk.resources.assets import Assets, AsyncAssets
from retouch.sdk.resources.generation import AsyncGeneration, Generation
from retouch.sdk.resources.image_utils import AsyncImageUtils, ImageUtils
from retouch.sdk.resources.jobs import AsyncJobs, Jobs
from retouch.sdk.resources.segmentation import AsyncSegmentation, Segmentation

__all__ = ["AsyncClient", "Client"]


class Client:
    """Synchronous client of the retouch API.

    >>> with Client("http://127.0.0.1:8000", api_key="...") as client:
    ...     client.health().status
    'healthy'
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int = 2,
        headers: dict[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        limits: httpx.Limits | None = None,
    ) -> None:
        self.base_url, self.api_key = resolve_config(base_url, api_key)
        inner = transport or httpx.HTTPTransport(limits=limits or httpx.Limits(max_connections=100))
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=default_headers(self.api_key, headers),
            timeout=timeout,
            transport=RetryTransport(inner, RetryPolicy(max_retries=max_retries)),
        )
        #: Image and mask operations.
        self.image_utils = ImageUtils(self)
        #: Smart masks from clicks, boxes and strokes.
        self.segmentation = Segmentation(self)
        #: A smart mask in one call: :meth:`Segmentation.smart_mask`.
        self.smart_mask = self.segmentation.smart_mask
        #: Direct calls to a generation service (internal; most callers want :attr:`jobs`).
        self.generation = Generation(self)
        #: Pictures uploaded once and passed as ``asset:<id>``: upload, get, delete, ref.
        self.assets = Assets(self)
        # Asset ids this client uploaded (``assets.ref`` does not send those again).
        self._uploaded: set[str] = set()
        #: Async generation jobs: submit, watch, fetch, cancel.
        self.jobs = Jobs(self)
        #: Submit an edit and wait for its result, with progress: :meth:`Jobs.edit`.
        self.edit = self.jobs.edit

    # -- plumbing shared by the resources -------------------------------------------------------
    def _send(self, spec: RequestSpec, timeout: Timeout = NOT_GIVEN) -> Any:
        response = self._send_raw(spec, timeout)
        return parse_response(response, spec.cast)

    def _send_raw(self, spec: RequestSpec, timeout: Timeout = NOT_GIVEN, *, stream: bool = False) -> httpx.Response:
        request = build_request(self._http, spec, timeout)
        try:
            return self._http.send(request, stream=stream)
        except httpx.TransportError as exc:
            raise translate_transport_error(exc, request) from exc

    def request_raw(
        self,
        method: str,
        path: str,
        *,
        content: bytes | Iterable[bytes] | None = None,
        headers: Mapping[str, str] | Sequence[tuple[bytes, bytes]] | None = None,
        timeout: Timeout = NOT_GIVEN,
        stream: bool = True,
    ) -> httpx.Response:
        """Send one request as given and return the undecoded response, whatever its status.

        ``path`` may carry a query string, ``content`` may be an iterable (streamed, not buffered),
        ``headers`` are added to the client's own. With ``stream=True`` the body is not read:
        iterate it, then ``response.close()``. Retries follow the client's policy (idempotent
        requests only). Raises :class:`~retouch.sdk.errors.APIConnectionError` or
        :class:`~retouch.sdk.errors.APITimeoutError`, with the httpx error as ``__cause__``.
        """
        request = self._http.build_request(
            method,
            path,
            content=content,
            headers=headers,
            timeout=self._http.timeout if isinstance(timeout, NotGiven) else timeout,
        )
        try:
            return self._http.send(request, stream=stream)
        except httpx.TransportError as exc:
            raise translate_transport_error(exc, request) from exc

    @contextmanager
    def _stream(self, spec: RequestSpec, timeout: Timeout = NOT_GIVEN) -> Iterator[httpx.Response]:
        response = self._send_raw(spec, timeout, stream=True)
        try:
            if response.status_code >= 400:
                response.read()
                raise_for_problem(response)
            yield response
        finally:
            response.close()

    # -- top-level calls ------------------------------------------------------------------------
    def health(self, *, timeout: Timeout = NOT_GIVEN) -> Health:
        """``GET /api/health`` of the server this client points at."""
        result: Health = self._send(RequestSpec("GET", "/api/health", cast=Health), timeout)
        return result

    def system_health(self, *, timeout: Timeout = NOT_GIVEN) -> SystemHealth:
        """``GET /api/system/health``: the gateway's view of every service."""
        result: SystemHealth = self._send(RequestSpec("GET", "/api/system/health", cast=SystemHealth), timeout)
        return result

    def batch(
        self,
        directory: str | os.PathLike[str],
        *,
        task_type: TaskType,
        out: str | os.PathLike[str],
        mask_file: str | os.PathLike[str] | None = None,
        masks_dir: str | os.PathLike[str] | None = None,
        prompt: str = "",
        concurrency: int = 4,
        on_progress: BatchProgress | None = None,
        timeout: Timeout = NOT_GIVEN,
        **options: Any,
    ) -> BatchReport:
        """Edit every picture of ``directory`` into ``out`` (same file names), at most
        ``concurrency`` jobs at once; resumable (finished files are skipped, submitted ones map to
        the same job); failures are in the report, not raised. ``options`` are further
        :class:`GenerationRequest` fields. See :mod:`retouch.sdk.batch`."""
        files = plan_batch(directory, out, task_type=task_type, mask_file=mask_file, masks_dir=masks_dir)
        return run_batch(
            self,
            files,
            task_type=task_type,
            prompt=prompt,
            concurrency=concurrency,
            on_progress=on_progress,
            timeout=timeout,
            options=options,
        )

    def close(self) -> None:
        """Close pooled connections."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient:
    """Asynchronous client of the retouch API; the same calls as :class:`Client`, awaited."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int = 2,
        headers: dict[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        limits: httpx.Limits | None = None,
    ) -> None:
        self.base_url, self.api_key = resolve_config(base_url, api_key)
        inner = transport or httpx.AsyncHTTPTransport(limits=limits or httpx.Limits(max_connections=100))
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=default_headers(self.api_key, headers),
            timeout=timeout,
            transport=AsyncRetryTransport(inner, RetryPolicy(max_retries=max_retries)),
        )
        #: Image and mask operations.
        self.image_utils = AsyncImageUtils(self)
        #: Smart masks from clicks, boxes and strokes.
        self.segmentation = AsyncSegmentation(self)
        #: A smart mask in one call: :meth:`AsyncSegmentation.smart_mask`.
        self.smart_mask = self.segmentation.smart_mask
        #: Direct calls to a generation service (internal; most callers want :attr:`jobs`).
        self.generation = AsyncGeneration(self)
        #: Pictures uploaded once and passed as ``asset:<id>``: upload, get, delete, ref.
        self.assets = AsyncAssets(self)
        # Asset ids this client uploaded (``assets.ref`` does not send those again).
        self._uploaded: set[str] = set()
        #: Async generation jobs: submit, watch, fetch, cancel.
        self.jobs = AsyncJobs(self)
        #: Submit an edit and wait for its result, with progress: :meth:`AsyncJobs.edit`.
        self.edit = self.jobs.edit

    async def _send(self, spec: RequestSpec, timeout: Timeout = NOT_GIVEN) -> Any:
        response = await self._send_raw(spec, timeout)
        return parse_response(response, spec.cast)

    async def _send_raw(
        self, spec: RequestSpec, timeout: Timeout = NOT_GIVEN, *, stream: bool = False
    ) -> httpx.Response:
        request = build_request(self._http, spec, timeout)
        try:
            return await self._http.send(request, stream=stream)
        except httpx.TransportError as exc:
            raise translate_transport_error(exc, request) from exc

    async def request_raw(
        self,
        method: str,
        path: str,
        *,
        content: bytes | AsyncIterable[bytes] | None = None,
        headers: Mapping[str, str] | Sequence[tuple[bytes, bytes]] | None = None,
        timeout: Timeout = NOT_GIVEN,
        stream: bool = True,
    ) -> httpx.Response:
        """Send one request as given and return the undecoded response, whatever its status.

        For proxies (the gateway): ``path`` may carry a query string, ``content`` may be an async
        iterable (streamed, not buffered), ``headers`` are added to the client's own. With
        ``stream=True`` the body is not read: iterate it, then ``await response.aclose()``.
        Retries follow the client's policy (idempotent requests only). Raises
        :class:`~retouch.sdk.errors.APIConnectionError` or
        :class:`~retouch.sdk.errors.APITimeoutError`, with the httpx error as ``__cause__``.
        """
        request = self._http.build_request(
            method,
            path,
            content=content,
            headers=headers,
            timeout=self._http.timeout if isinstance(timeout, NotGiven) else timeout,
        )
        try:
            return await self._http.send(request, stream=stream)
        except httpx.TransportError as exc:
            raise translate_transport_error(exc, request) from exc

    @asynccontextmanager
    async def _stream(self, spec: RequestSpec, timeout: Timeout = NOT_GIVEN) -> AsyncIterator[httpx.Response]:
        response = await self._send_raw(spec, timeout, stream=True)
        try:
            if response.status_code >= 400:
                await response.aread()
                raise_for_problem(response)
            yield response
        finally:
            await response.aclose()

    async def health(self, *, timeout: Timeout = NOT_GIVEN) -> Health:
        """``GET /api/health`` of the server this client points at."""
        result: Health = await self._send(RequestSpec("GET", "/api/health", cast=Health), timeout)
        return result

    async def system_health(self, *, timeout: Timeout = NOT_GIVEN) -> SystemHealth:
        """``GET /api/system/health``: the gateway's view of every service."""
        result: SystemHealth = await self._send(RequestSpec("GET", "/api/system/health", cast=SystemHealth), timeout)
        return result

    async def batch(
        self,
        directory: str | os.PathLike[str],
        *,
        task_type: TaskType,
        out: str | os.PathLike[str],
        mask_file: str | os.PathLike[str] | None = None,
        masks_dir: str | os.PathLike[str] | None = None,
        prompt: str = "",
        concurrency: int = 4,
        on_progress: BatchProgress | None = None,
        timeout: Timeout = NOT_GIVEN,
        **options: Any,
    ) -> BatchReport:
        """See :meth:`Client.batch` (``on_progress`` may be a coroutine function)."""
        files = plan_batch(directory, out, task_type=task_type, mask_file=mask_file, masks_dir=masks_dir)
        return await run_batch_async(
            self,
            files,
            task_type=task_type,
            prompt=prompt,
            concurrency=concurrency,
            on_progress=on_progress,
            timeout=timeout,
            options=options,
        )

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
