"""docs/sidecar.md's config examples are valid configs (docs that run)."""

from __future__ import annotations

import re
from pathlib import Path

from guardrail_contract.sidecar_config import SidecarConfig

DOC = Path(__file__).resolve().parents[3] / "docs" / "sidecar.md"


def test_yaml_examples_in_the_docs_load() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.S)
    assert blocks
    for block in blocks:
        config = SidecarConfig.from_yaml(block)
        assert config.routing.stable.revision
