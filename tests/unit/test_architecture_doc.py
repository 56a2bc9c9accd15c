"""docs/architecture.md names every package of the project, so the picture stays the map of the code."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
SOURCES = ("contract", "operator", "sidecar", "tools")


def packages() -> list[str]:
    found = []
    for source in SOURCES:
        for init in sorted((ROOT / source).glob("guardrail_*/**/__init__.py")):
            found.append(".".join(init.parent.relative_to(ROOT / source).parts))
    return found


def test_every_package_is_named() -> None:
    text = DOC.read_text()
    assert len(packages()) > 20
    missing = [
        name
        for name in packages()
        if f"`{name}`" not in text and not (name.count(".") > 1 and f"`{name.rsplit('.', 1)[1]}`" in text)
    ]
    assert not missing, f"docs/architecture.md does not name: {missing}"
