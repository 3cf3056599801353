"""The webhook outbox on Modal (``backend = "modal"``): deliveries in a ``modal.Dict``, so a pending
one outlives the jobs container (a redeploy, a crash) like the jobs themselves.

Keys: ``d:<id>`` -> the encoded :class:`~retouch.jobs.webhooks.Delivery`; ``t:<task_id>`` -> the ids
of a job's deliveries; ``q`` -> the ids not settled yet (held or pending), which is all the sender
reads while it waits. The jobs service runs as one container, the only writer, so the two lists
are read, changed and written back without a lock. Only ``put``/``get``/``pop`` (``.aio``) are
used; the tests run this class against an in-memory fake of exactly those calls.
"""

from __future__ import annotations

from typing import Any

from retouch.jobs.webhooks import Delivery
from retouch.sdk import codec

__all__ = ["ModalDictWebhookOutbox"]

_QUEUE = "q"


def _delivery_key(delivery_id: str) -> str:
    return "d:" + delivery_id


def _task_key(task_id: str) -> str:
    return "t:" + task_id


class ModalDictWebhookOutbox:
    """A :class:`~retouch.jobs.webhooks.WebhookOutbox` in a ``modal.Dict`` (see the module docstring)."""

    def __init__(self, deliveries: Any) -> None:
        self._dict = deliveries

    @classmethod
    def from_name(cls, name: str) -> ModalDictWebhookOutbox:
        """The outbox on the deployed Dict ``name`` (created if missing)."""
        import modal

        return cls(modal.Dict.from_name(name, create_if_missing=True))

    async def open(self) -> None:
        """Nothing to prepare: the Dict exists once looked up."""

    async def close(self) -> None:
        """Nothing to release."""

    async def _ids(self, key: str) -> list[str]:
        raw = await self._dict.get.aio(key)
        return [] if raw is None else codec.decode(raw, list[str])

    async def _put_ids(self, key: str, ids: list[str]) -> None:
        if ids:
            await self._dict.put.aio(key, codec.encode(ids))
        else:
            await self._dict.pop.aio(key, None)

    async def _get(self, delivery_id: str) -> Delivery | None:
        raw = await self._dict.get.aio(_delivery_key(delivery_id))
        return None if raw is None else codec.decode(raw, Delivery)

    async def add(self, delivery: Delivery) -> bool:
        """Insert ``delivery`` unless its id exists."""
        added = await self._dict.put.aio(_delivery_key(delivery.id), codec.encode(delivery), skip_if_exists=True)
        if not added:
            return False
        for key in (_task_key(delivery.task_id), _QUEUE):
            ids = await self._ids(key)
            if delivery.id not in ids:
                await self._put_ids(key, [*ids, delivery.id])
        return True

    async def _unsettled(self) -> list[Delivery]:
        found = []
        for delivery_id in await self._ids(_QUEUE):
            delivery = await self._get(delivery_id)
            if delivery is not None:
                found.append(delivery)
        return found

    async def due(self, now: float, limit: int) -> list[Delivery]:
        """Pending deliveries due by ``now``, earliest first."""
        due = [d for d in await self._unsettled() if d.state == "pending" and d.next_attempt_at <= now]
        return sorted(due, key=lambda d: d.next_attempt_at)[:limit]

    async def next_due(self) -> float | None:
        """The earliest ``next_attempt_at`` of a pending delivery."""
        times = [d.next_attempt_at for d in await self._unsettled() if d.state == "pending"]
        return min(times) if times else None

    async def update(self, delivery: Delivery) -> None:
        """Store the attempt's outcome; a settled delivery leaves the queue."""
        if await self._get(delivery.id) is None:
            return  # forgotten meanwhile (its job was deleted): not brought back
        await self._dict.put.aio(_delivery_key(delivery.id), codec.encode(delivery))
        if delivery.state in ("delivered", "failed"):
            await self._remove(_QUEUE, delivery.id)

    async def _remove(self, key: str, delivery_id: str) -> None:
        ids = await self._ids(key)
        if delivery_id in ids:
            await self._put_ids(key, [item for item in ids if item != delivery_id])

    async def for_task(self, task_id: str) -> list[Delivery]:
        """The deliveries of ``task_id``, oldest first."""
        found = [await self._get(delivery_id) for delivery_id in await self._ids(_task_key(task_id))]
        return sorted((d for d in found if d is not None), key=lambda d: d.created_at)

    async def forget(self, task_id: str) -> None:
        """Delete the deliveries of ``task_id``."""
        for delivery_id in await self._ids(_task_key(task_id)):
            await self._dict.pop.aio(_delivery_key(delivery_id), None)
            await self._remove(_QUEUE, delivery_id)
        await self._dict.pop.aio(_task_key(task_id), None)

    async def held(self) -> list[Delivery]:
        """Deliveries still ``held``."""
        return [d for d in await self._unsettled() if d.state == "held"]

    async def release(self, delivery_id: str, body: bytes | None = None) -> None:
        """``held`` -> ``pending``."""
        delivery = await self._get(delivery_id)
        if delivery is None or delivery.state != "held":
            return
        delivery.state = "pending"
        if body is not None:
            delivery.body = body
        await self._dict.put.aio(_delivery_key(delivery_id), codec.encode(delivery))

    async def drop(self, delivery_id: str) -> None:
        """Delete one delivery."""
        delivery = await self._get(delivery_id)
        await self._dict.pop.aio(_delivery_key(delivery_id), None)
        await self._remove(_QUEUE, delivery_id)
        if delivery is not None:
            await self._remove(_task_key(delivery.task_id), delivery_id)
