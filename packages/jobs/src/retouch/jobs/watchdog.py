"""The watchdog: a running job whose worker has been silent too long fails as lost."""

from __future__ import annotations

import asyncio
import logging
import time

from retouch.jobs.service import JobService

__all__ = ["check_once", "watchdog_loop"]

log = logging.getLogger("retouch.jobs")


async def check_once(service: JobService) -> int:
    """Fail every running job silent for longer than ``watchdog_s``; returns how many."""
    limit = service.settings.watchdog_s
    now = time.monotonic()
    lost = 0
    for entry in service.running():
        silent = now - entry.last_heard
        if silent > limit:
            log.warning("job %s: worker silent for %.1f s, failing it", entry.job.task_id, silent)
            await service.lose(entry, silent)
            lost += 1
    return lost


async def watchdog_loop(service: JobService) -> None:
    """Check often enough that a lost worker is noticed within about 1.25 x ``watchdog_s``."""
    interval = min(5.0, service.settings.watchdog_s / 4)
    while True:
        await asyncio.sleep(interval)
        try:
            await check_once(service)
        except Exception:
            log.exception("watchdog check failed")
