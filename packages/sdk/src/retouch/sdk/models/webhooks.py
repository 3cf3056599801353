"""The webhook contract: what a job's status says about the POSTs made to its ``webhook`` URL.

A job submitted with ``webhook`` gets one POST per terminal state (and one at the start when asked
with ``webhook_events: ["start"]``). Each POST's body is the job's status answer, signed as the
Standard Webhooks specification says (``webhook-id``, ``webhook-timestamp``,
``webhook-signature``); :func:`retouch.sdk.webhooks.verify` checks one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

__all__ = ["WebhookDelivery", "WebhookDeliveryState", "WebhookDeliveryType"]

#: ``pending`` (not delivered yet; retried with backoff), ``delivered`` (a 2xx answer), ``failed``
#: (every attempt failed; no more are made).
WebhookDeliveryState = Literal["pending", "delivered", "failed"]
#: What a delivery announces: the job's ``start``, or its terminal state (``done``, ``error``,
#: ``cancelled``; the body's ``status`` says which).
WebhookDeliveryType = Literal["start", "done", "error", "cancelled"]


class WebhookDelivery(msgspec.Struct, kw_only=True):
    """One POST to a job's webhook URL and how it went (part of the job's status answer)."""

    #: The ``webhook-id`` header: the same on every retry of this delivery (receivers dedupe by it).
    id: str
    type: WebhookDeliveryType
    state: WebhookDeliveryState
    #: Attempts made so far.
    attempts: int = 0
    #: The HTTP status of the last attempt's answer (``None``: no answer, see ``last_error``).
    last_status_code: int | None = None
    last_error: str | None = None
    #: When the next attempt is due (while ``pending``).
    next_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
