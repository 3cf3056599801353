"""One test per call the seed system's web client makes (CLIENTS.md), each sent exactly as it
builds it, through the real stack, read exactly as it reads the answer. The client holds no API
key: the deployment has keys and lets the client's origin in anonymously."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw
from seed_client import KNOWN_STATUSES, SeedClient, b64, data_url, generation_body, letterbox, png, rgba_mask
from skimage import data as photos

pytestmark = pytest.mark.e2e

COFFEE = Image.fromarray(photos.coffee())  # 600x400: the picture on the main canvas
CAT = Image.fromarray(photos.chelsea())  # 451x300: the reference picture
CAT_BOX = [110, 20, 390, 290]


def decode(b64_png: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(b64_png)))
    image.load()
    return image


def target_mask(box: tuple[int, int, int, int]) -> Image.Image:
    """A brush blob on the letterboxed picture, inside the picture's part of the square."""
    mask = Image.new("L", (1024, 1024), 0)
    left, top, right, bottom = box
    cx, cy = left + (right - left) * 0.7, top + (bottom - top) * 0.4
    ImageDraw.Draw(mask).ellipse([cx - 60, cy - 45, cx + 60, cy + 45], fill=255)
    return mask


def assert_finished_edit(
    client: SeedClient, task_id: str, reading: Any, image: Any, result: Any, task_type: str
) -> dict[str, Any]:
    """The page's view of a finished edit: the stream reached ``done``, both result routes 200."""
    assert reading.statuses, "no event was read"
    assert set(reading.statuses) <= KNOWN_STATUSES, reading.statuses
    assert reading.statuses[-1] == "done", reading.statuses
    assert reading.statuses.count("done") == 1
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    picture = Image.open(io.BytesIO(image.content))
    assert picture.size == (1024, 1024)
    assert result.status_code == 200, result.text
    answer: dict[str, Any] = result.json()
    assert answer["status"] == "done" and answer["task_id"] == task_id
    assert isinstance(answer["generation_time"], float) and answer["generation_time"] >= 0
    assert isinstance(answer["model_used"], str) and answer["model_used"]
    used = answer["parameters_used"]
    assert used["task_type"] == task_type and used["seed"] == answer["seed"] == 42
    assert used["num_inference_steps"] == 15 and used["enable_mae_refinement"] is False
    assert answer.get("debug_info") is None, "enable_debug: false"
    return answer


def test_health_from_the_clients_server(client: SeedClient) -> None:
    online, services = client.health()
    assert online, "the client would show the system offline"
    assert services == {"generation": True, "segmentation": True, "image_utils": True, "job_manager": True}


@pytest.mark.parametrize(
    ("mode", "prompt"),
    [
        ("box", {"bbox": [150.5, 60.25, 450.75, 330.5]}),
        (
            "brush stroke",
            {
                "bbox": [200.0, 150.0, 400.0, 250.0],
                "points": [[200.0 + 22.2 * i, 200.0 + (i % 3) * 1.5] for i in range(10)],
            },
        ),
        ("click", {"points": [[300.4, 200.6]]}),
    ],
)
@pytest.mark.parametrize("model_type", ["segmentation", "birefnet"])
def test_smart_mask_on_the_main_canvas(client: SeedClient, mode: str, prompt: dict[str, Any], model_type: str) -> None:
    body = {
        "image": data_url(COFFEE),
        "image_id": None,
        "border_adjustment": 0,
        "use_blur": False,
        "model_type": model_type,
        **prompt,
    }
    answer = client.smart_mask(body)
    mask = decode(answer["mask_base64"])
    assert mask.size == COFFEE.size and np.asarray(mask.convert("L")).max() > 127
    assert answer["model_used"]


def _stroke_on_the_cat() -> str:
    stroke = Image.new("L", CAT.size, 0)
    ImageDraw.Draw(stroke).line([(180, 150), (250, 140), (320, 160)], fill=255, width=14)
    return b64(png(stroke))


@pytest.mark.parametrize(
    "prompt",
    [
        {"bbox": CAT_BOX, "auto_detect": False},
        {"mask": _stroke_on_the_cat(), "auto_detect": False},
        {"auto_detect": True},
    ],
    ids=["box", "brush guidance", "auto detect"],
)
def test_smart_mask_in_the_reference_editor(client: SeedClient, prompt: dict[str, Any]) -> None:
    body = {"image": b64(png(CAT)), "border_adjustment": 3, "model_type": "segmentation", **prompt}
    answer = client.smart_mask(body)
    assert decode(answer["mask_base64"]).size == CAT.size


def test_the_smart_mask_cancel_route_exists(client: SeedClient) -> None:
    # Its API layer has it (its UI does not call it): an id that is not running is a JSON 404.
    response = client.http.post("/api/smart-mask/cancel/not-running-0001")
    assert response.status_code == 404 and "detail" in response.json()


def test_extract_object_gives_the_cropped_cutout(client: SeedClient) -> None:
    mask = client.smart_mask(
        {
            "image": b64(png(CAT)),
            "border_adjustment": 0,
            "model_type": "segmentation",
            "bbox": CAT_BOX,
            "auto_detect": False,
        }
    )
    cutout = decode(client.extract_object(b64(png(CAT)), mask["mask_base64"]))
    assert cutout.mode == "RGBA" and cutout.width < CAT.width and cutout.height <= CAT.height
    alpha = np.asarray(cutout.getchannel("A"))
    assert alpha.min() == 0 and alpha.max() == 255


def test_white_balance_as_multipart(client: SeedClient) -> None:
    warm = np.clip(np.asarray(COFFEE).astype(float) * [1.2, 1.0, 0.7], 0, 255).astype(np.uint8)
    answer = client.white_balance_form(png(Image.fromarray(warm)), "auto")
    assert answer["success"] is True and answer["method_used"]
    assert decode(answer["original_image"]).size == decode(answer["corrected_image"]).size == COFFEE.size


def test_removal_reaches_done(client: SeedClient) -> None:
    square, box = letterbox(COFFEE)
    body = generation_body(
        "removal", b64(png(square)), prompt="  remove the object  ", mask=rgba_mask(target_mask(box))
    )
    task_id, reading, image, result = client.edit(body)
    assert_finished_edit(client, task_id, reading, image, result, "removal")


def test_removal_with_a_box_original_quality_and_a_negative_prompt(client: SeedClient) -> None:
    square, box = letterbox(COFFEE)
    mask = Image.new("L", square.size, 0)
    ImageDraw.Draw(mask).rectangle([box[0] + 300, box[1] + 100, box[0] + 420, box[1] + 200], fill=255)
    body = generation_body(
        "removal",
        b64(png(square)),
        mask=rgba_mask(mask),
        mask_tool_type="box",
        input_quality="original",
        negative_prompt="blurry",
    )
    task_id, reading, image, result = client.edit(body)
    answer = assert_finished_edit(client, task_id, reading, image, result, "removal")
    assert answer["parameters_used"]["mask_tool_type"] == "box"


def test_white_balance_job_reaches_done(client: SeedClient) -> None:
    warm = np.clip(np.asarray(COFFEE).astype(float) * [1.25, 1.0, 0.65], 0, 255).astype(np.uint8)
    square, _ = letterbox(Image.fromarray(warm))
    body = generation_body("white-balance", b64(png(square)))
    assert "conditional_images" not in body and body["mask_image"] == "" and body["prompt"] == ""
    task_id, reading, image, result = client.edit(body)
    assert_finished_edit(client, task_id, reading, image, result, "white-balance")


def test_insertion_from_a_cutout_with_the_full_size_mask_r(client: SeedClient) -> None:
    # The reference editor's first path: extract-object's cropped cut-out, with the mask drawn on
    # the whole original reference (so the two sizes differ).
    reference = b64(png(CAT))
    mask_r = client.smart_mask(
        {
            "image": reference,
            "border_adjustment": 0,
            "model_type": "segmentation",
            "bbox": CAT_BOX,
            "auto_detect": False,
        }
    )["mask_base64"]
    cutout = client.extract_object(reference, mask_r)
    assert decode(cutout).size != decode(mask_r).size
    square, box = letterbox(COFFEE)
    body = generation_body(
        "insertion",
        b64(png(square)),
        prompt="a cat",
        mask=rgba_mask(target_mask(box)),
        reference_image=cutout,
        reference_mask_r=mask_r,
    )
    task_id, reading, image, result = client.edit(body)
    assert_finished_edit(client, task_id, reading, image, result, "insertion")


def test_insertion_from_the_reference_picture_alone(client: SeedClient) -> None:
    square, box = letterbox(COFFEE)
    body = generation_body(
        "insertion", b64(png(square)), prompt="a cat", mask=rgba_mask(target_mask(box)), reference_image=b64(png(CAT))
    )
    assert "reference_mask_R" not in body
    task_id, reading, image, result = client.edit(body)
    assert_finished_edit(client, task_id, reading, image, result, "insertion")


def test_the_status_polling_fallback(client: SeedClient) -> None:
    square, box = letterbox(COFFEE)
    task_id = client.submit(generation_body("removal", b64(png(square)), mask=rgba_mask(target_mask(box))))
    answers = list(client.poll_status(task_id))
    assert answers[-1]["status"] == "done"
    assert {answer["status"] for answer in answers} <= KNOWN_STATUSES
