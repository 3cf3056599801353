"""Smart masks through the gateway on the real local stack (GrabCut engine)."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
from e2e_images import OBJECT_BOX, b64, decode, mask, png, scene

from retouch.local import Stack
from retouch.sdk import Client, NotFoundError, UnprocessableEntityError

pytestmark = pytest.mark.e2e


def iou(found: np.ndarray, truth: np.ndarray) -> float:
    return float((found & truth).sum() / (found | truth).sum())


def test_two_clicks_find_the_object_and_the_second_refers_to_the_picture(client: Client) -> None:
    x = (OBJECT_BOX[0] + OBJECT_BOX[2]) // 2
    y = (OBJECT_BOX[1] + OBJECT_BOX[3]) // 2
    first = client.smart_mask(scene(), points=[[x, y]])
    truth = np.asarray(mask()) > 127
    found = np.asarray(decode(bytes(first.mask_base64)).convert("L")) > 127
    assert decode(bytes(first.mask_base64)).size == scene().size
    assert iou(found, truth) > 0.8
    second = client.smart_mask(image_id=first.image_id, points=[[x, y], [x + 2, y + 2]])
    assert second.image_id == first.image_id
    assert iou(np.asarray(decode(bytes(second.mask_base64)).convert("L")) > 127, truth) > 0.8


def test_smart_mask_errors_keep_their_status_through_the_gateway(stack: Stack, client: Client) -> None:
    with pytest.raises(UnprocessableEntityError, match="points"):
        client.smart_mask(scene(), points=[[500, 10]])
    with pytest.raises(NotFoundError):
        client.smart_mask(image_id="0" * 32, points=[[10, 10]])
    with pytest.raises(NotFoundError):
        client.segmentation.cancel("no-such-request")
    response = httpx.post(f"{stack.gateway_url}/api/smart-mask", json={"image": b64(png(scene()))}, timeout=30)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
