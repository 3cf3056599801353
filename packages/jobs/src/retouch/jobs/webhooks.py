"""Webhooks: a signed POST of the job's status answer to its ``webhook`` URL at each terminal state
(and at the start, when asked with ``webhook_events: ["start"]``).

Off the job's path: a change only writes a row to the outbox (a SQLite table next to the jobs);
a terminal one is written ``held`` before the job's record and released after it, so a crash in
between is settled at the next start by what the store holds (released if the job is finished
there, dropped if it is to run again);
:class:`WebhookSender` delivers rows in the background, signed with the ``standardwebhooks``
library (Standard Webhooks: ``webhook-id``, ``webhook-timestamp``, ``webhook-signature``) with
the secret of the job's owner, and retries a failed attempt with exponential backoff and jitter.
A pending row outlives a restart (the sender takes it up again at start-up), so a delivery is made
at least once; its ``webhook-id`` stays the same across retries, so receivers can drop repeats.

Addresses: only ``http``/``https`` URLs; loopback, private, link-local and reserved addresses
(checked on the literal host at submit, and on every resolved address before each attempt) are
refused unless ``RETOUCH_JOBS_WEBHOOK_ALLOW_PRIVATE`` is set. Redirects are not followed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random
import socket
import sqlite3
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

import httpx
import msgspec
from standardwebhooks.webhooks import Webhook

from retouch.jobs.__about__ import __version__
from retouch.jobs.settings import JobsSettings
from retouch.jobs.sqlite import SqliteDatabase
from retouch.jobs.state import Job
from retouch.runtime.problems import field_error
from retouch.sdk import codec
from retouch.sdk.models.generation import GenerationRequest
from retouch.sdk.models.jobs import JobStatus
from retouch.sdk.models.webhooks import WebhookDelivery, WebhookDeliveryType

__all__ = [
    "Delivery",
    "SqliteWebhookOutbox",
    "WebhookOutbox",
    "WebhookSender",
    "check_webhook_request",
    "secret_for",
]

log = logging.getLogger("retouch.jobs.webhooks")


#: Rows fetched per look at the outbox.
_BATCH: Final = 64
#: The sender looks at the outbox at least this often, even when nothing woke it.
_IDLE_POLL_S: Final = 30.0
#: Seconds before the outbox is read again after reading it failed.
_OUTBOX_RETRY_S: Final = 5.0
#: Longest ``last_error`` kept on a row.
_MAX_ERROR: Final = 300


class Delivery(msgspec.Struct, kw_only=True):
    """One row of the outbox: a POST to make (or made) for a job."""

    id: str
    task_id: str
    owner: str
    url: str
    type: WebhookDeliveryType
    body: bytes
    state: str = "pending"
    attempts: int = 0
    next_attempt_at: float
    last_status_code: int | None = None
    last_error: str | None = None
    created_at: float
    delivered_at: float | None = None

    def view(self) -> WebhookDelivery:
        """The public :class:`WebhookDelivery` of this row."""
        return WebhookDelivery(
            id=self.id,
            type=self.type,
            # A held row is one write away from pending: to a reader it is pending.
            state="pending" if self.state == "held" else self.state,  # type: ignore[arg-type]
            attempts=self.attempts,
            last_status_code=self.last_status_code,
            last_error=self.last_error,
            next_attempt_at=_dt(self.next_attempt_at) if self.state == "pending" else None,
            delivered_at=_dt(self.delivered_at),
        )


def _dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


class WebhookOutbox(Protocol):
    """Durable deliveries. Every method is a coroutine and never blocks the event loop."""

    async def open(self) -> None:
        """Prepare the outbox (create the table)."""

    async def close(self) -> None:
        """Release connections and threads."""

    async def add(self, delivery: Delivery) -> bool:
        """Insert ``delivery`` unless its id exists (then nothing changes); whether it was new."""

    async def due(self, now: float, limit: int) -> list[Delivery]:
        """Pending deliveries whose next attempt is due, earliest first."""

    async def next_due(self) -> float | None:
        """When the earliest pending delivery is due (``None``: none pending)."""

    async def update(self, delivery: Delivery) -> None:
        """Store the outcome of an attempt."""

    async def for_task(self, task_id: str) -> list[Delivery]:
        """The deliveries of ``task_id``, oldest first."""

    async def forget(self, task_id: str) -> None:
        """Delete the deliveries of ``task_id`` (a deleted or expired job)."""

    async def held(self) -> list[Delivery]:
        """Rows written ``held`` and never released (their job's record may not have been stored)."""

    async def release(self, delivery_id: str, body: bytes | None = None) -> None:
        """Make a held row ``pending`` (with ``body`` instead of its own, when given)."""

    async def drop(self, delivery_id: str) -> None:
        """Delete one row."""


_SCHEMA = """
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL,
    state TEXT NOT NULL,
    next_attempt_at REAL NOT NULL,
    created_at REAL NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries(next_attempt_at)
    WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS webhook_deliveries_task ON webhook_deliveries(task_id, created_at);
"""


class SqliteWebhookOutbox(SqliteDatabase):
    """The outbox as a table of the jobs database (``path``), on its own connection and thread
    (the database is the jobs store's; WAL lets both connections write)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, thread_name="webhooks-sqlite")

    def _setup(self, conn: sqlite3.Connection) -> None:
        conn.executescript(_SCHEMA)

    async def add(self, delivery: Delivery) -> bool:
        """Insert ``delivery`` unless its id exists."""
        return await self._call(self._add, delivery.id, delivery.task_id, delivery, codec.encode(delivery))

    def _add(self, id_: str, task_id: str, delivery: Delivery, data: bytes) -> bool:
        cursor = self.conn.execute(
            "INSERT INTO webhook_deliveries (id, task_id, state, next_attempt_at, created_at, data)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (id_, task_id, delivery.state, delivery.next_attempt_at, delivery.created_at, data),
        )
        return cursor.rowcount == 1

    async def due(self, now: float, limit: int) -> list[Delivery]:
        """Pending rows due by ``now``."""
        return await self._call(self._select, "state = 'pending' AND next_attempt_at <= ?", (now,), limit)

    async def for_task(self, task_id: str) -> list[Delivery]:
        """Every row of ``task_id``."""
        return await self._call(self._select, "task_id = ?", (task_id,), 100)

    def _select(self, where: str, args: tuple[object, ...], limit: int) -> list[Delivery]:
        order = "next_attempt_at" if "next_attempt_at" in where else "created_at"
        rows = self.conn.execute(
            f"SELECT data FROM webhook_deliveries WHERE {where} ORDER BY {order} LIMIT ?", (*args, limit)
        ).fetchall()
        return [codec.decode(row[0], Delivery) for row in rows]

    async def next_due(self) -> float | None:
        """The earliest ``next_attempt_at`` of a pending row."""
        return await self._call(self._next_due)

    def _next_due(self) -> float | None:
        row = self.conn.execute(
            "SELECT MIN(next_attempt_at) FROM webhook_deliveries WHERE state = 'pending'"
        ).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    async def update(self, delivery: Delivery) -> None:
        """Write the row's new state."""
        data = codec.encode(delivery)
        await self._call(self._update, delivery.state, delivery.next_attempt_at, data, delivery.id)

    def _update(self, state: str, next_attempt_at: float, data: bytes, id_: str) -> None:
        self.conn.execute(
            "UPDATE webhook_deliveries SET state = ?, next_attempt_at = ?, data = ? WHERE id = ?",
            (state, next_attempt_at, data, id_),
        )

    async def forget(self, task_id: str) -> None:
        """Delete the rows of ``task_id``."""
        await self._call(self._forget, task_id)

    def _forget(self, task_id: str) -> None:
        self.conn.execute("DELETE FROM webhook_deliveries WHERE task_id = ?", (task_id,))

    async def held(self) -> list[Delivery]:
        """Rows still ``held``."""
        return await self._call(self._select, "state = 'held'", (), 10_000)

    async def release(self, delivery_id: str, body: bytes | None = None) -> None:
        """``held`` -> ``pending``."""
        await self._call(self._release, delivery_id, body)

    def _release(self, delivery_id: str, body: bytes | None) -> None:
        row = self.conn.execute("SELECT data FROM webhook_deliveries WHERE id = ?", (delivery_id,)).fetchone()
        if row is None:
            return
        delivery = codec.decode(row[0], Delivery)
        if delivery.state != "held":
            return
        delivery.state = "pending"
        if body is not None:
            delivery.body = body
        self._update(delivery.state, delivery.next_attempt_at, codec.encode(delivery), delivery.id)

    async def drop(self, delivery_id: str) -> None:
        """Delete the row ``delivery_id``."""
        await self._call(self._drop, delivery_id)

    def _drop(self, delivery_id: str) -> None:
        self.conn.execute("DELETE FROM webhook_deliveries WHERE id = ?", (delivery_id,))


# -- submit-time checks ----------------------------------------------------------------------------
def secret_for(settings: JobsSettings, owner: str) -> str | None:
    """The Standard Webhooks secret configured for ``owner`` (``None``: webhooks are off for it)."""
    return settings.webhook_secrets.get(owner) or settings.webhook_secret


def _is_private(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return bool(
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
    )


def check_webhook_request(request: GenerationRequest, owner: str, settings: JobsSettings) -> None:
    """422 naming the field if ``request`` asks for a webhook this deployment will not deliver:
    not an absolute http(s) URL, a private address while those are not allowed, no secret for the
    owner, or ``webhook_events`` without a ``webhook``."""
    url = request.webhook
    if url is None:
        if request.webhook_events:
            raise field_error("webhook_events", "needs a webhook URL")
        return
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise field_error("webhook", "is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise field_error("webhook", "must be an absolute http:// or https:// URL")
    if parts.username is not None or parts.password is not None:
        raise field_error("webhook", "must not carry credentials (the POST is signed instead)")
    del port
    if not settings.webhook_allow_private:
        host = parts.hostname.rstrip(".").lower()
        if host == "localhost" or host.endswith(".localhost"):
            raise field_error("webhook", "must not point at this machine (private addresses are not allowed here)")
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None and _is_private(literal):
            raise field_error("webhook", "must not be a private, loopback or reserved address here")
    if secret_for(settings, owner) is None:
        raise field_error("webhook", "webhooks are not configured for this API key (no signing secret)")


# -- delivery ------------------------------------------------------------------------------------
def delivery_id(job: Job, type_: WebhookDeliveryType) -> str:
    """The ``webhook-id`` of ``job``'s delivery of ``type_`` (one per start attempt, one at the end)."""
    suffix = f"start-{job.attempt}" if type_ == "start" else "end"
    return f"msg_{job.task_id}_{suffix}"


class _Refused(Exception):
    """An attempt that must not be made (and will not be retried)."""


class WebhookSender:
    """Writes deliveries to the outbox as jobs change, and delivers them in the background."""

    def __init__(
        self,
        settings: JobsSettings,
        outbox: WebhookOutbox,
        *,
        on_outcome: Callable[[str], None] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.outbox = outbox
        self._on_outcome = on_outcome
        self._transport = transport
        self._wake = asyncio.Event()
        self._inflight: set[str] = set()
        self._http: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def open(self) -> None:
        """Open the outbox."""
        await self.outbox.open()

    async def close(self) -> None:
        """Stop the attempts in flight (they stay pending) and close the outbox."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        await self.outbox.close()

    async def job_changed(self, job: Job, status: JobStatus) -> None:
        """Record the delivery ``job``'s change calls for, if any (``status`` is the body)."""
        delivery = self._delivery(job, status)
        if delivery is not None and await self.outbox.add(delivery):
            self._wake.set()

    async def hold(self, job: Job, status: JobStatus) -> str | None:
        """Write the delivery of ``job``'s terminal change ``held`` (before the job is stored); its
        id, to :meth:`release` once the job's record is stored (``None``: no delivery)."""
        delivery = self._delivery(job, status)
        if delivery is None:
            return None
        delivery.state = "held"
        return delivery.id if await self.outbox.add(delivery) else None

    async def release(self, delivery_id: str) -> None:
        """The job's record is stored: the held delivery may go."""
        await self.outbox.release(delivery_id)
        self._wake.set()

    async def settle_held(self, stored: Callable[[str], Awaitable[Job | None]]) -> None:
        """At start-up, before the jobs are recovered: release each held delivery whose job the
        store holds as finished (its body from that record), drop the others (their job had not
        ended in the store; it ends again, and is announced then)."""
        for delivery in await self.outbox.held():
            job = await stored(delivery.task_id)
            if job is not None and job.terminal:
                await self.outbox.release(delivery.id, codec.encode(job.status_view()))
                log.info("webhook %s: released after a restart", delivery.id)
            else:
                await self.outbox.drop(delivery.id)

    def _delivery(self, job: Job, status: JobStatus) -> Delivery | None:
        if job.webhook is None:
            return None
        if status.status == "processing":
            if "start" not in job.webhook_events:
                return None
            type_: WebhookDeliveryType = "start"
        elif status.status in ("done", "error", "cancelled"):
            type_ = status.status
        else:
            return None
        now = time.time()
        return Delivery(
            id=delivery_id(job, type_),
            task_id=job.task_id,
            owner=job.owner,
            url=job.webhook,
            type=type_,
            body=codec.encode(status),
            next_attempt_at=now,
            created_at=now,
        )

    async def views(self, task_id: str) -> list[WebhookDelivery]:
        """The public state of ``task_id``'s deliveries."""
        return [delivery.view() for delivery in await self.outbox.for_task(task_id)]

    async def run(self) -> None:
        """The delivery loop: attempt what is due, sleep until the next is due or a change wakes it."""
        limit = asyncio.Semaphore(self.settings.webhook_concurrency)
        while True:
            self._wake.clear()
            try:
                wait = await self._start_due(limit)
            except Exception:
                # The outbox failed (a full disk, Modal unreachable): the loop lives on and looks again.
                log.exception("reading the webhook outbox failed; retrying")
                wait = _OUTBOX_RETRY_S
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    async def _start_due(self, limit: asyncio.Semaphore) -> float:
        """Start an attempt for each due delivery; how long to sleep before looking again."""
        for delivery in await self.outbox.due(time.time(), _BATCH):
            if delivery.id in self._inflight:
                continue
            self._inflight.add(delivery.id)
            task = asyncio.get_running_loop().create_task(self._attempt(delivery, limit))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        next_due = await self.outbox.next_due()
        wait = _IDLE_POLL_S if next_due is None else min(_IDLE_POLL_S, max(0.0, next_due - time.time()))
        if next_due is not None and next_due <= time.time() and self._inflight:
            # What is due is already being attempted; wait for an outcome rather than spin.
            wait = min(wait + 0.05, 0.5)
        return wait

    async def _attempt(self, delivery: Delivery, limit: asyncio.Semaphore) -> None:
        try:
            async with limit:
                await self._deliver(delivery)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("webhook delivery %s failed inside the jobs service", delivery.id)
        finally:
            self._inflight.discard(delivery.id)
            self._wake.set()

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                timeout=self.settings.webhook_timeout_s,
                follow_redirects=False,
                transport=self._transport,
                headers={"User-Agent": f"retouch-webhooks/{__version__}"},
            )
        return self._http

    async def _deliver(self, delivery: Delivery) -> None:
        delivery.attempts += 1
        status_code: int | None = None
        error: str | None = None
        try:
            secret = secret_for(self.settings, delivery.owner)
            if secret is None:
                raise _Refused("no webhook secret is configured for this job's owner any more")
            await self._check_address(delivery.url)
            timestamp = datetime.now(UTC)
            body = delivery.body.decode()
            headers = {
                "content-type": "application/json",
                "webhook-id": delivery.id,
                "webhook-timestamp": str(int(timestamp.timestamp())),
                "webhook-signature": Webhook(secret).sign(delivery.id, timestamp, body),
            }
            response = await self._client().post(delivery.url, content=delivery.body, headers=headers)
            status_code = response.status_code
            if 200 <= status_code < 300:
                delivery.state = "delivered"
                delivery.delivered_at = time.time()
            else:
                error = f"the receiver answered {status_code}"
        except _Refused as exc:
            error = str(exc)
            delivery.state = "failed"
        except (httpx.HTTPError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        delivery.last_status_code = status_code
        delivery.last_error = None if error is None else error[:_MAX_ERROR]
        if delivery.state == "pending":
            if delivery.attempts >= self.settings.webhook_max_attempts:
                delivery.state = "failed"
            else:
                delivery.next_attempt_at = time.time() + self.backoff(delivery.attempts)
        await self.outbox.update(delivery)
        outcome = (
            "delivered" if delivery.state == "delivered" else ("failed" if delivery.state == "failed" else "retry")
        )
        if outcome != "delivered":
            log.warning(
                "webhook %s to %s: attempt %d %s (%s)", delivery.id, delivery.url, delivery.attempts, outcome, error
            )
        if self._on_outcome is not None:
            self._on_outcome(outcome)

    def backoff(self, attempts: int) -> float:
        """Seconds before the next attempt after ``attempts`` failed ones (doubling, capped, +-20%)."""
        base: float = self.settings.webhook_retry_base_s * 2.0 ** min(attempts - 1, 30)
        # Spreads the retries of many deliveries that failed together; no secret depends on it.
        jitter = random.uniform(0.8, 1.2)
        return min(self.settings.webhook_retry_max_s, base) * jitter

    async def _check_address(self, url: str) -> None:
        if self.settings.webhook_allow_private:
            return
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos: list[Any] = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        for info in infos:
            address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
            if _is_private(address):
                raise _Refused(f"{host} resolves to {address}, a private address (not allowed here)")
