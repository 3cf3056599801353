"""``retouch.sdk.webhooks.verify``: the Standard Webhooks specification, checked against the
reference ``standardwebhooks`` library's signatures."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook

from retouch.sdk.webhooks import WebhookVerificationError, sign, verify

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef01234567").decode()
ROTATED = "whsec_" + base64.b64encode(b"the-new-secret-after-rotation").decode()
BODY = b'{"task_id":"t1","status":"done","progress":1.0,"created_at":"2026-01-01T00:00:00Z"}'


def headers(body: bytes = BODY, secret: str = SECRET, msg_id: str = "msg_1", at: float | None = None) -> dict[str, str]:
    moment = datetime.fromtimestamp(time.time() if at is None else at, UTC)
    signature = Webhook(secret).sign(msg_id, moment, body.decode())
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(moment.timestamp())), "webhook-signature": signature}


def test_a_reference_signature_verifies_and_returns_the_status() -> None:
    status = verify(BODY, headers(), SECRET)
    assert status.task_id == "t1" and status.status == "done" and status.done


def test_header_names_are_case_insensitive_and_str_bodies_work() -> None:
    given = {name.title(): value for name, value in headers().items()}
    assert verify(BODY.decode(), given, SECRET).task_id == "t1"


def test_sign_matches_the_reference_library() -> None:
    at = int(time.time())
    assert sign("msg_1", at, BODY, SECRET) == headers(at=at)["webhook-signature"]
    # The raw key works as well as the whsec_ form.
    assert sign("msg_1", at, BODY, base64.b64decode(SECRET.removeprefix("whsec_"))) == sign("msg_1", at, BODY, SECRET)


def test_a_rotation_is_accepted_with_either_secret_and_unknown_versions_are_skipped() -> None:
    given = headers()
    new = headers(secret=ROTATED)["webhook-signature"]
    given["webhook-signature"] = f"v1a,bm90LWNoZWNrZWQ= {new} {given['webhook-signature']}"
    assert verify(BODY, given, SECRET).task_id == "t1"
    assert verify(BODY, given, ROTATED).task_id == "t1"
    assert verify(BODY, headers(secret=ROTATED), [SECRET, ROTATED]).task_id == "t1"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h, b: (h, b.replace(b"done", b"error")),
        lambda h, b: ({**h, "webhook-id": "msg_2"}, b),
        lambda h, b: ({**h, "webhook-timestamp": str(int(h["webhook-timestamp"]) + 1)}, b),
        lambda h, b: ({**h, "webhook-signature": "v1,AAAA"}, b),
        lambda h, b: ({**h, "webhook-signature": "v1,not base64!"}, b),
        lambda h, b: ({**h, "webhook-signature": "v2," + h["webhook-signature"].split(",", 1)[1]}, b),
        lambda h, b: ({**h, "webhook-signature": ""}, b),
        lambda h, b: ({k: v for k, v in h.items() if k != "webhook-id"}, b),
        lambda h, b: ({k: v for k, v in h.items() if k != "webhook-signature"}, b),
        lambda h, b: ({k: v for k, v in h.items() if k != "webhook-timestamp"}, b),
        lambda h, b: ({**h, "webhook-timestamp": "soon"}, b),
    ],
)
def test_anything_tampered_or_missing_is_refused(tamper: object) -> None:
    given, body = tamper(headers(), BODY)  # type: ignore[operator]
    with pytest.raises(WebhookVerificationError):
        verify(body, given, SECRET)


def test_a_wrong_secret_is_refused() -> None:
    with pytest.raises(WebhookVerificationError, match="signature"):
        verify(BODY, headers(), ROTATED)


def test_old_and_future_timestamps_are_refused_as_replays() -> None:
    old = headers(at=time.time() - 600)
    with pytest.raises(WebhookVerificationError, match="too far"):
        verify(BODY, old, SECRET)
    future = headers(at=time.time() + 600)
    with pytest.raises(WebhookVerificationError, match="too far"):
        verify(BODY, future, SECRET)
    # Within the tolerance it passes; the tolerance is the receiver's to set.
    assert verify(BODY, old, SECRET, tolerance=900).task_id == "t1"
    assert verify(BODY, old, SECRET, now=time.time() - 600).task_id == "t1"


def test_a_signed_body_that_is_not_a_status_is_refused() -> None:
    body = b'{"hello": "world"}'
    with pytest.raises(WebhookVerificationError, match="not a job status"):
        verify(body, headers(body=body), SECRET)


@pytest.mark.parametrize("secret", ["whsec_", "whsec_***", ""])
def test_a_malformed_secret_is_a_value_error(secret: str) -> None:
    with pytest.raises(ValueError, match="secret"):
        verify(BODY, headers(), secret)
