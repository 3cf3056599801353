"""The segmentation service's metrics: the smart-mask image cache's hits and misses, and the
engine's load time, at ``/api/metrics``."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families
from seg_scenes import b64, disk_scene, png


def _value(text: str, name: str, **labels: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


async def test_the_image_cache_counts_a_miss_then_hits(http: httpx.AsyncClient) -> None:
    before = (await http.get("/api/metrics")).text
    picture, _ = disk_scene(seed=11)
    first = await http.post("/api/smart-mask", json={"image": b64(png(picture)), "points": [[110, 96]]})
    assert first.status_code == 200, first.text
    image_id = first.json()["image_id"]
    for point in ([100, 90], [115, 100]):
        again = await http.post("/api/smart-mask", json={"image_id": image_id, "points": [point]})
        assert again.status_code == 200, again.text
    after = (await http.get("/api/metrics")).text

    def grew(result: str) -> float:
        name = "retouch_smart_mask_cache_total"
        return _value(after, name, result=result) - _value(before, name, result=result)

    assert (grew("miss"), grew("hit")) == (1, 2)
    assert _value(after, "retouch_model_load_seconds_count", engine="grabcut") >= 1
