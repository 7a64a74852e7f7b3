"""The privacy notice and the consent version it defines (content/privacy/)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PrivacyNotice:
    version: str
    text: dict[str, str]

    @classmethod
    def load(cls, content_dir: Path) -> PrivacyNotice:
        root = content_dir / "privacy"
        version = (root / "version.txt").read_text(encoding="utf-8").strip()
        text = {
            p.stem.split(".")[-1]: p.read_text(encoding="utf-8") for p in root.glob("notice.*.md")
        }
        return cls(version, text)

    def for_language(self, lang: str) -> str:
        return self.text.get(lang) or self.text["ru"]
