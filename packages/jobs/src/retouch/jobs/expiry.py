"""Expiry: finished jobs and their results are deleted ``ttl_s`` after they finished."""

from __future__ import annotations

import asyncio
import logging

from retouch.jobs.service import JobService

__all__ = ["expiry_loop"]

log = logging.getLogger("retouch.jobs")


async def expiry_loop(service: JobService) -> None:
    """Expire once at start-up, then every ``expiry_interval_s``."""
    while True:
        try:
            await service.expire_once()
        except Exception:
            log.exception("expiring old jobs failed")
        await asyncio.sleep(service.settings.expiry_interval_s)
