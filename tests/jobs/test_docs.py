"""The guide in docs/jobs.md is runnable: its Python blocks run top to bottom as one script, ``await`` included."""

from __future__ import annotations

import ast
import inspect
import re
import sys
import types
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "jobs.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


@pytest.mark.anyio
async def test_the_jobs_guide_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = python_blocks(GUIDE.read_text())
    assert len(blocks) >= 8
    module = types.ModuleType("jobs_guide")  # dataclasses look their module up in sys.modules
    monkeypatch.setitem(sys.modules, module.__name__, module)
    for index, block in enumerate(blocks):
        code = compile(block, f"{GUIDE.name} block {index + 1}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        result = eval(code, module.__dict__)
        if inspect.iscoroutine(result):
            await result
