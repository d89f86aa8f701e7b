"""Shared fixtures for the core's tests."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

TOY_PLUGIN = Path(__file__).parent / 'toy_plugin'


@pytest.fixture(scope='session')
def toy_module():
    """The toy plugin's module, imported from the source tree (not installed)."""
    sys.path.insert(0, str(TOY_PLUGIN))
    try:
        import examol_toy
        yield examol_toy
    finally:
        sys.path.remove(str(TOY_PLUGIN))
