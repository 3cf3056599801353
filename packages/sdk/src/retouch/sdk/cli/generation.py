"""``retouch generation-run`` and ``retouch generation-cancel``: direct calls to a generation service
(``/api/generation/*``, internal), for trying an engine without the jobs service.

``retouch --url http://127.0.0.1:8001 generation-run photo.png --task removal --mask mask.png -o out.png``
streams the run's progress to stderr and writes the edited picture (always PNG). Ctrl-C cancels
the run before exiting.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from typing import Any

from retouch.sdk._client import Client
from retouch.sdk.cli._common import add_output, print_struct, write_output
from retouch.sdk.cli._edit import add_edit_arguments, edit_options
from retouch.sdk.errors import NotFoundError, RetouchError
from retouch.sdk.images import to_base64_bytes
from retouch.sdk.models.generation import ProgressEvent, ResultEvent, RunEvent, RunRequest

__all__ = ["build_run_request", "register"]


def build_run_request(args: argparse.Namespace) -> RunRequest:
    """The :class:`RunRequest` the command line describes (a fresh ``run_id`` when none given)."""
    return RunRequest(
        prompt=args.prompt,
        input_image=to_base64_bytes(args.image),
        task_type=args.task,
        mask=None if args.mask is None else to_base64_bytes(args.mask),
        reference_image=None if args.reference is None else to_base64_bytes(args.reference),
        reference_mask_R=None if args.reference_mask is None else to_base64_bytes(args.reference_mask),
        run_id=args.run_id or uuid.uuid4().hex,
        **edit_options(args),
    )


def _show(event: RunEvent) -> None:
    if isinstance(event, ProgressEvent):
        steps = f" {event.current_step}/{event.total_steps}" if event.total_steps else ""
        sys.stderr.write(f"\r{event.progress * 100:3.0f}% {event.stage}{steps}".ljust(48))
        sys.stderr.flush()
    else:
        sys.stderr.write("\n")


def _run(client: Client, args: argparse.Namespace) -> int:
    request = build_run_request(args)
    assert request.run_id is not None
    try:
        result: ResultEvent = client.generation.run(request, on_event=None if args.no_progress else _show)
    except KeyboardInterrupt:
        print(f"\ncancelling run {request.run_id} ...", file=sys.stderr)
        try:
            client.generation.cancel(request.run_id, timeout=30.0)
        except NotFoundError:
            pass  # closing the stream already stopped it
        except RetouchError as exc:
            print(f"could not cancel run {request.run_id}: {exc}", file=sys.stderr)
        return 130
    write_output(bytes(result.image), args.output)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    if result.seed is not None:
        print(f"seed {result.seed}", file=sys.stderr)
    return 0


def _cancel(client: Client, args: argparse.Namespace) -> int:
    print_struct(client.generation.cancel(args.run_id))
    return 0


def register(sub: Any) -> None:
    """Add ``generation-run`` and ``generation-cancel``."""
    run = sub.add_parser("generation-run", help="edit a picture directly on a generation service (internal API)")
    add_edit_arguments(run)
    run.add_argument("--run-id", help="the run's id (for generation-cancel); default: a fresh one")
    run.add_argument("--no-progress", action="store_true", help="no progress on stderr")
    add_output(run)
    run.set_defaults(handler=_run)

    cancel = sub.add_parser("generation-cancel", help="cancel a run on a generation service")
    cancel.add_argument("run_id")
    cancel.set_defaults(handler=_cancel)
