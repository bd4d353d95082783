"""Conversation tests: `rasa test core --fail-on-prediction-errors` on tests/stories/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import ROOT
from bot.train import model_path

pytestmark = pytest.mark.slow


def test_conversation_stories(tmp_path: Path) -> None:
    rasa = Path(sys.executable).parent / "rasa"
    result = subprocess.run(
        [str(rasa), "test", "core", "--model", str(model_path()), "--stories",
         str(ROOT / "tests" / "stories"), "--fail-on-prediction-errors", "--out",
         str(tmp_path), "--no-plot"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    failed = (tmp_path / "failed_test_stories.yml")
    detail = failed.read_text() if failed.exists() else result.stdout[-3000:] + result.stderr[-3000:]
    assert result.returncode == 0, detail
