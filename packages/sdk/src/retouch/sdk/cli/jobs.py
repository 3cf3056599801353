"""``retouch edit`` (submit an edit, show its progress, save the result) and ``retouch jobs ...``.

``retouch edit photo.png --task removal --mask mask.png -o out.png`` goes through the gateway as
an async job; the progress bar is drawn on stderr, and Ctrl-C cancels the job before exiting.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO, get_args

from retouch.sdk import _codec
from retouch.sdk._client import Client
from retouch.sdk.cli._common import add_output, print_struct, write_output
from retouch.sdk.cli._edit import add_edit_arguments, edit_options
from retouch.sdk.errors import ConflictError, RetouchError
from retouch.sdk.models.jobs import JobEvent, JobStatusValue
from retouch.sdk.resources.jobs import build_request

__all__ = ["ProgressBar", "register"]

_SUFFIX_FORMATS = {".png": "png", ".webp": "webp", ".jpg": "jpeg", ".jpeg": "jpeg"}


class ProgressBar:
    """One line on ``stream`` (stderr), redrawn in place for every job event."""

    def __init__(self, stream: TextIO | None = None, width: int = 30) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self._drawn = False

    def __call__(self, event: JobEvent) -> None:
        """Redraw for ``event``."""
        if event.status == "queued":
            where = f" (position {event.queue_position})" if event.queue_position else ""
            text = f"queued{where}"
        else:
            filled = round(self.width * max(0.0, min(1.0, event.progress)))
            bar = "#" * filled + "-" * (self.width - filled)
            label = event.stage or event.status
            steps = f" {event.current_step}/{event.total_steps}" if event.current_step and event.total_steps else ""
            text = f"[{bar}] {event.progress * 100:3.0f}% {label}{steps}"
        self.stream.write(f"\r{text:<{self.width + 40}}")
        self.stream.flush()
        self._drawn = True
        if event.done:
            self.finish()

    def finish(self) -> None:
        """End the line."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


def _output_format(args: argparse.Namespace) -> str:
    if args.format:
        return str(args.format)
    return _SUFFIX_FORMATS.get(Path(args.output).suffix.lower(), "png")


def _edit(client: Client, args: argparse.Namespace) -> int:
    request = build_request(
        args.image,
        task_type=args.task,
        prompt=args.prompt,
        mask=args.mask,
        reference_image=args.reference,
        reference_mask=args.reference_mask,
        options=edit_options(args),
    )
    submitted = client.jobs.submit(request)
    print(f"task {submitted.task_id} {submitted.status}", file=sys.stderr)
    bar = None if args.no_progress else ProgressBar()
    try:
        status = client.jobs.wait(submitted.task_id, on_progress=bar)
    except KeyboardInterrupt:
        if bar is not None:
            bar.finish()
        print(f"cancelling task {submitted.task_id} ...", file=sys.stderr)
        try:
            final = client.jobs.cancel(submitted.task_id, timeout=30.0)
            print(f"task {final.task_id} {final.status}", file=sys.stderr)
        except ConflictError as exc:
            print(f"task {submitted.task_id} had already finished: {exc.detail}", file=sys.stderr)
        except RetouchError as exc:
            print(f"could not cancel task {submitted.task_id}: {exc}", file=sys.stderr)
        return 130
    if status.status != "done":
        print(f"task {status.task_id} {status.status}: {status.error or 'no detail'}", file=sys.stderr)
        return 1
    write_output(client.jobs.result_image(status.task_id, format=_output_format(args)), args.output)
    return 0


def _status(client: Client, args: argparse.Namespace) -> int:
    print_struct(client.jobs.get(args.task_id))
    return 0


def _cancel(client: Client, args: argparse.Namespace) -> int:
    print_struct(client.jobs.cancel(args.task_id))
    return 0


def _watch(client: Client, args: argparse.Namespace) -> int:
    status = client.jobs.wait(args.task_id, on_progress=ProgressBar())
    print_struct(status)
    return 0 if status.status == "done" else 1


def _list(client: Client, args: argparse.Namespace) -> int:
    shown = 0
    for page in client.jobs.list(status=args.status, limit=min(args.limit, 100)):
        for job in page.jobs:
            if shown >= args.limit:
                return 0
            if args.json:
                print(_codec.encode(job).decode())
            else:
                created = job.created_at.strftime("%Y-%m-%d %H:%M:%S")
                detail = f"  {job.error}" if job.error else ""
                print(f"{job.task_id}  {job.status:<10}  {created}{detail}")
            shown += 1
    return 0


def _delete(client: Client, args: argparse.Namespace) -> int:
    client.jobs.delete(args.task_id)
    print(f"deleted task {args.task_id}", file=sys.stderr)
    return 0


def _result(client: Client, args: argparse.Namespace) -> int:
    write_output(client.jobs.result_image(args.task_id, format=_output_format(args)), args.output)
    return 0


def _positive(raw: str) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {raw!r}")
    return int(raw)


def _add_format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("png", "webp", "jpeg"), help="image format (default: from -o's suffix)")


def register(sub: Any) -> None:
    """Add ``edit`` and ``jobs {status,cancel,watch,list,delete,result}``."""
    edit = sub.add_parser("edit", help="edit a picture as an async job (removal, insertion, white balance)")
    add_edit_arguments(edit)
    edit.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_output(edit)
    _add_format(edit)
    edit.set_defaults(handler=_edit)

    jobs = sub.add_parser("jobs", help="look at, follow, cancel or fetch a job")
    jobs_sub = jobs.add_subparsers(dest="jobs_command", metavar="ACTION", required=True)
    for name, handler, text in (
        ("status", _status, "where a job stands"),
        ("cancel", _cancel, "cancel a queued or running job"),
        ("watch", _watch, "follow a job's progress until it ends"),
    ):
        action = jobs_sub.add_parser(name, help=text)
        action.add_argument("task_id")
        action.set_defaults(handler=handler)
    listing = jobs_sub.add_parser("list", help="your jobs, newest first")
    listing.add_argument("--status", choices=get_args(JobStatusValue), help="only jobs with this status")
    listing.add_argument("--limit", type=_positive, default=20, help="how many jobs to show (default 20)")
    listing.add_argument("--json", action="store_true", help="one JSON status answer per line")
    listing.set_defaults(handler=_list)
    delete = jobs_sub.add_parser("delete", help="cancel if needed, then delete a job, its inputs and result")
    delete.add_argument("task_id")
    delete.set_defaults(handler=_delete)
    result = jobs_sub.add_parser("result", help="save a finished job's image")
    result.add_argument("task_id")
    add_output(result)
    _add_format(result)
    result.set_defaults(handler=_result)
