"""The per-image cache: byte budget, LRU order, one preparation for concurrent requests."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from retouch.segmentation.cache import ImageCache, image_id_for


@dataclass
class Entry:
    nbytes: int


def test_the_least_recently_used_entries_go_first() -> None:
    cache: ImageCache[Entry] = ImageCache(max_bytes=100)
    cache.put("a", Entry(40))
    cache.put("b", Entry(40))
    assert cache.get("a") is not None  # a is now more recent than b
    cache.put("c", Entry(40))
    assert "b" not in cache and "a" in cache and "c" in cache
    assert cache.nbytes == 80


def test_an_entry_larger_than_the_budget_is_not_kept() -> None:
    cache: ImageCache[Entry] = ImageCache(max_bytes=100)
    cache.put("a", Entry(40))
    cache.put("huge", Entry(101))
    assert "huge" not in cache and "a" in cache


def test_replacing_an_entry_counts_its_bytes_once() -> None:
    cache: ImageCache[Entry] = ImageCache(max_bytes=100)
    cache.put("a", Entry(40))
    cache.put("a", Entry(50))
    assert cache.nbytes == 50 and len(cache) == 1


def test_image_ids_are_content_hashes() -> None:
    assert image_id_for(b"abc") == image_id_for(b"abc") != image_id_for(b"abd")
    assert len(image_id_for(b"abc")) == 32


async def test_concurrent_requests_share_one_preparation() -> None:
    cache: ImageCache[Entry] = ImageCache(max_bytes=100)
    calls = 0
    release = asyncio.Event()

    async def create() -> Entry:
        nonlocal calls
        calls += 1
        await release.wait()
        return Entry(10)

    first = asyncio.ensure_future(cache.get_or_create("k", create))
    second = asyncio.ensure_future(cache.get_or_create("k", create))
    await asyncio.sleep(0)
    assert cache.pending("k") is not None
    release.set()
    assert await first is await second
    assert calls == 1 and "k" in cache and cache.pending("k") is None


async def test_a_failed_preparation_is_not_cached_and_is_retried() -> None:
    cache: ImageCache[Entry] = ImageCache(max_bytes=100)

    async def broken() -> Entry:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await cache.get_or_create("k", broken)
    assert "k" not in cache and cache.pending("k") is None

    async def working() -> Entry:
        return Entry(1)

    assert (await cache.get_or_create("k", working)).nbytes == 1


async def test_a_caller_giving_up_does_not_stop_the_preparation() -> None:
    cache: ImageCache[Entry] = ImageCache(max_bytes=100)
    release = asyncio.Event()

    async def create() -> Entry:
        await release.wait()
        return Entry(5)

    waiter = asyncio.ensure_future(cache.get_or_create("k", create))
    await asyncio.sleep(0)
    waiter.cancel()
    release.set()
    for _ in range(100):
        if "k" in cache:
            break
        await asyncio.sleep(0)
    assert "k" in cache
