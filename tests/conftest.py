"""Shared fixtures for the core's tests."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

TOY_PLUGIN = Path(__file__).parent / 'toy_plugin'
COLMENA_SUPPORT = Path(__file__).parent / 'colmena_support'


@pytest.fixture(scope='session')
def toy_module():
    """The toy plugin's module, imported from the source tree (not installed)."""
    sys.path.insert(0, str(TOY_PLUGIN))
    try:
        import examol_toy
        yield examol_toy
    finally:
        sys.path.remove(str(TOY_PLUGIN))


@pytest.fixture
def savetoy(monkeypatch):
    """The saveable toy scorer, registered as ``savetoy`` for the duration of a test."""
    from examol_core import plugins

    for path in (TOY_PLUGIN, COLMENA_SUPPORT):
        monkeypatch.syspath_prepend(str(path))
    import examol_savetoy

    pm = plugins.get_plugin_manager()
    if not pm.has_plugin('savetoy'):
        pm.register(examol_savetoy, name='savetoy')
    yield examol_savetoy
    if pm.has_plugin('savetoy'):
        pm.unregister(name='savetoy')
