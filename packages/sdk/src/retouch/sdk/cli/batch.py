"""``retouch batch DIR --task removal --mask MASK --out OUT``: one edit per picture of a folder.

``--masks DIR`` gives each picture its own mask (same file name, or same name stem); white balance
takes no mask. One progress line for the whole batch on stderr; the failures are listed at the
end (exit status 1 if there were any). Running the same command again resumes an interrupted batch:
finished files are skipped, and files whose jobs were already submitted are picked up, not redone.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

from retouch.sdk._client import Client
from retouch.sdk.batch import BatchOutcome, plan_batch, run_batch

__all__ = ["BatchProgressBar", "register"]


class BatchProgressBar:
    """One line on ``stream`` (stderr) for the whole batch, redrawn after each file."""

    def __init__(self, total: int, stream: TextIO | None = None, width: int = 30) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.width = width
        self.counts = {"done": 0, "skipped": 0, "failed": 0}
        self.draw(0)

    def __call__(self, outcome: BatchOutcome, finished: int, total: int) -> None:
        """Count ``outcome`` and redraw."""
        self.counts[outcome.status] += 1
        self.draw(finished)

    def draw(self, finished: int) -> None:
        """Redraw the line for ``finished`` files out of ``total``."""
        filled = round(self.width * finished / self.total) if self.total else self.width
        bar = "#" * filled + "-" * (self.width - filled)
        counts = ", ".join(f"{count} {name}" for name, count in self.counts.items() if count)
        self.stream.write(f"\r[{bar}] {finished}/{self.total} {counts}".ljust(self.width + 50))
        self.stream.flush()

    def finish(self) -> None:
        """End the line."""
        self.stream.write("\n")
        self.stream.flush()


def _options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if args.engine:
        options["engine"] = args.engine
    if args.seed is not None:
        options["seed"] = args.seed
    if args.steps is not None:
        options["num_inference_steps"] = args.steps
    return options


def _batch(client: Client, args: argparse.Namespace) -> int:
    files = plan_batch(args.directory, args.out, task_type=args.task, mask_file=args.mask, masks_dir=args.masks)
    if not files:
        print(f"no pictures in {args.directory}", file=sys.stderr)
        return 1
    bar = None if args.no_progress else BatchProgressBar(len(files))
    try:
        report = run_batch(
            client,
            files,
            task_type=args.task,
            prompt=args.prompt,
            concurrency=args.concurrency,
            on_progress=bar,
            options=_options(args),
        )
    finally:
        if bar is not None:
            bar.finish()
    summary = f"{len(report.done)} done, {len(report.skipped)} skipped (already there), {len(report.failed)} failed"
    print(f"{summary}; results in {args.out}", file=sys.stderr)
    for outcome in report.failed:
        print(f"failed {outcome.name}: {outcome.error}", file=sys.stderr)
    return 1 if report.failed else 0


def _positive(raw: str) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {raw!r}")
    return int(raw)


def register(sub: Any) -> None:
    """Add ``batch``."""
    parser = sub.add_parser("batch", help="edit every picture of a folder (resumable)")
    parser.add_argument("directory", type=Path, help="the folder of pictures (not its subfolders)")
    parser.add_argument("--task", required=True, choices=("removal", "white-balance"), help="the edit")
    masks = parser.add_mutually_exclusive_group()
    masks.add_argument("--mask", type=Path, help="one mask for every picture")
    masks.add_argument("--masks", type=Path, help="a folder of masks, one per picture (same name or name stem)")
    parser.add_argument("--out", type=Path, required=True, help="where the results go (same file names)")
    parser.add_argument("--concurrency", type=_positive, default=4, help="jobs at once (default 4)")
    parser.add_argument("--prompt", default="", help="the prompt of every edit")
    parser.add_argument("--engine", help="engine override where the deployment has several")
    parser.add_argument("--seed", type=int, help="seed of every edit")
    parser.add_argument("--steps", type=int, help="num_inference_steps of every edit")
    parser.add_argument("--no-progress", action="store_true", help="no progress line")
    parser.set_defaults(handler=_batch)
