"""`make run` / `make test` set themselves up once and reinstall only when the dependencies
change (pyproject.toml is newer than the install stamp)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def planned(directory: Path, target: str) -> list[str]:
    """The commands `make -n` would run (nothing is executed)."""
    done = subprocess.run(
        ["make", "-n", "--no-print-directory", target],
        cwd=directory,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.splitlines()


def test_test_reinstalls_only_when_pyproject_changes(tmp_path: Path) -> None:
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "python").touch()

    first = planned(tmp_path, "test")
    assert any("pip install" in line for line in first)
    assert any(line.startswith("PYTHONWARNINGS=ignore ") for line in first)  # no notice box

    stamp = tmp_path / ".venv" / ".installed"
    stamp.touch()
    later = os.stat(tmp_path / "pyproject.toml").st_mtime + 10
    os.utime(stamp, (later, later))
    assert planned(tmp_path, "test") == [".venv/bin/python -m pytest"]

    os.utime(tmp_path / "pyproject.toml", (later + 10, later + 10))
    assert any("pip install" in line for line in planned(tmp_path, "test"))
