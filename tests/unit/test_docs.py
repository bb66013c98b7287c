"""The operator's documents stay true: short README, links that resolve, a generated settings reference, the layout."""

from __future__ import annotations

import re
from pathlib import Path

from stream_app.cli.settings import reference
from stream_app.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _pages() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


def test_the_readme_stays_short() -> None:
    assert len((ROOT / "README.md").read_text().splitlines()) <= 200


def test_every_relative_link_resolves() -> None:
    broken = []
    for page in _pages():
        for target in LINK.findall(page.read_text()):
            if re.match(r"^[a-z]+:", target):
                continue
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} → {target}")
    assert broken == []


def test_the_configuration_reference_is_generated_from_the_settings() -> None:
    # Regenerate with: stream-app settings > docs/configuration.md
    text = (DOCS / "configuration.md").read_text()
    assert text == reference()
    for name in Settings.model_fields:
        assert f"`STREAM_APP_{name.upper()}`" in text


def test_the_layout_names_every_top_level_package() -> None:
    text = (DOCS / "development.md").read_text()
    layout = text[text.index("## Layout"):text.index("## Known issues")]
    packages = sorted(p.name for p in (ROOT / "stream_app").iterdir()
                      if p.is_dir() and (p / "__init__.py").exists())
    assert packages, "no packages found"
    missing = [name for name in packages if not re.search(rf"^\s+{name}/", layout, re.M)]
    assert missing == []
