"""Ctrl-C while a subcommand's module is still importing (torch, Ultralytics and ONNX take seconds to load) ends in one
sentence and exit 130, not a KeyboardInterrupt traceback."""
from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from skyseg.cli import main as cli


def test_ctrl_c_during_the_command_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          caplog: pytest.LogCaptureFixture) -> None:
    # a command module whose import is interrupted, as `import torch` is when Ctrl-C arrives during it
    (tmp_path / "skyseg_slow_cmd.py").write_text("raise KeyboardInterrupt\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(cli.COMMANDS, "slow", cli.Subcommand("skyseg_slow_cmd", "a command that loads slowly"))
    with caplog.at_level(logging.ERROR, logger="skyseg"):
        try:
            code = cli.main(["slow", "--anything"])
        except KeyboardInterrupt:  # would otherwise stop the whole test session instead of failing this test
            pytest.fail("KeyboardInterrupt escaped skyseg's main() (a traceback for the user)")
    assert code == 130
    assert [r.getMessage() for r in caplog.records] == ["interrupted while starting; nothing was written"]
    sys.modules.pop("skyseg_slow_cmd", None)
