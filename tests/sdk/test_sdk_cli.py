"""The ``retouch`` CLI: every ``--help`` works, and failures end in one readable line, not a traceback."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import pytest

from retouch.sdk.cli import build_parser, main


def _commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*prefix, name)
                yield from _commands(sub, (*prefix, name))


COMMANDS = list(_commands(build_parser()))


def test_every_command_is_found() -> None:
    assert {("health",), ("edit",), ("smart-mask",), ("extract-object",), ("jobs", "result")} <= set(COMMANDS)


@pytest.mark.parametrize("command", [(), *COMMANDS], ids=lambda c: " ".join(c) or "retouch")
def test_help(command: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    # An alias (shadow-preview) shows its canonical name in the usage line.
    assert capsys.readouterr().out.startswith("usage: retouch")


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


def test_unreachable_server(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--url", "http://127.0.0.1:9", "--timeout", "2", "health"]) == 1
    assert _error_line(capsys).startswith("error: GET http://127.0.0.1:9/api/health failed")


def test_missing_picture(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.png"
    code = main(["--url", "http://127.0.0.1:9", "extract-object", str(missing), str(missing), "-o", "x.png"])
    assert code == 1
    line = _error_line(capsys)
    assert line.startswith("error: ") and str(missing) in line


def test_bad_letterbox_info(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "img.png").write_bytes(b"\x89PNG")
    argv = ["--url", "http://127.0.0.1:9", "unletterbox", str(tmp_path / "img.png"), "--letterbox", "{not json"]
    assert main([*argv, "-o", str(tmp_path / "out.png")]) == 1
    assert _error_line(capsys).startswith("error: ")
