"""Typing cases (pytest-mypy-plugins): each case runs mypy, with the repository's mypy.ini, on its ``main``.

- The base configuration is the repository's ``mypy.ini`` (the plugin enabled); a case adds to it with
  ``mypy_config`` (the cases in ``test_plain.yml`` switch the plugin off).
- mypy runs in a subprocess, the one installed next to the running interpreter. (pytest-mypy-plugins'
  ``--mypy-same-process`` replaces ``sys.modules`` after each case, which breaks modules imported later in the
  session, and is no faster here: the subprocesses share mypy's cache.)
- ``DURABLE_EFFECT_MYPY_DEBUG=1`` makes an exception inside the plugin fail the case, instead of the plugin
  quietly answering the plain signature.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]


def pytest_configure(config: pytest.Config) -> None:
    if not config.option.mypy_ini_file and not config.option.mypy_pyproject_toml_file:
        config.option.mypy_ini_file = str(REPOSITORY / "mypy.ini")
    scripts = str(Path(sys.executable).parent)
    if scripts not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([scripts, os.environ.get("PATH", "")])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        environment = getattr(item, "environment_variables", None)
        if isinstance(environment, dict) and item.path.parent == Path(__file__).parent:
            environment.setdefault("DURABLE_EFFECT_MYPY_DEBUG", "1")
