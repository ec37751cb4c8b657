"""The guide in docs/effect.md is runnable: its Python blocks run top to bottom as one script."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "effect.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


def test_the_effect_guide_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = python_blocks(GUIDE.read_text())
    assert len(blocks) >= 10
    module = types.ModuleType("effect_guide")  # dataclasses look their module up in sys.modules
    monkeypatch.setitem(sys.modules, module.__name__, module)
    for index, block in enumerate(blocks):
        code = compile(block, f"{GUIDE.name} block {index + 1}", "exec")
        exec(code, module.__dict__)
