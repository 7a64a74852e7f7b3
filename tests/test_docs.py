"""The repository documents itself: what README.md and --help point to is in the repository."""

from __future__ import annotations

import argparse
import re
import tomllib
from pathlib import Path

from bot.cli import _parser
from bot.config import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_readme_links_and_help_point_to_files_in_the_repository() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme)
    assert "docs/contract.md" in links
    for link in links:
        if not link.startswith("http"):
            assert (ROOT / link).is_file(), link
    parser = _parser()
    helps = [parser.format_help()]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps += [sub.format_help() for sub in action.choices.values()]
    for text in [readme, *helps]:
        assert "PRODUCT.md" not in text
    assert "docs/contract.md" in parser.format_help()


def test_the_contract_has_the_sections_the_readme_links_to() -> None:
    contract = (ROOT / "docs" / "contract.md").read_text(encoding="utf-8")
    for heading in (
        "## Chat commands",
        "## Command line: `python -m bot <command>`",
        "## Family profile format",
        "## JSON output",
        "## Referral lifecycle",
        "## Settings",
    ):
        assert heading in contract


def test_env_example_lists_every_setting() -> None:
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    named = set(re.findall(r"^#? ?([A-Z_]+)=", example, flags=re.MULTILINE))
    assert named == {name.upper() for name in Settings.model_fields}


def test_the_image_holds_every_package_the_project_installs() -> None:
    """The Dockerfile copies packages by name: a new top-level package (as `core/` once was)
    must be copied too, or the image starts and fails on its first import."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = {
        p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    copied = set(re.findall(r"^COPY (\w+) \./\1$", dockerfile, flags=re.MULTILINE))
    assert packages <= copied, f"not copied into the image: {sorted(packages - copied)}"
