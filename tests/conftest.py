"""Shared fixtures for the core's tests."""
from __future__ import annotations

import functools
import os
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


def _slurm_problem(partition: str | None) -> str | None:
    """Why no Slurm job can run in ``partition`` here (``None``: a usable cluster is up)."""
    import shutil
    import subprocess

    if shutil.which('sinfo') is None or shutil.which('sbatch') is None:
        return 'Slurm commands (sinfo, sbatch) are not installed'
    try:
        ping = subprocess.run(['scontrol', 'ping'], capture_output=True, text=True, timeout=10)
        if 'is UP' not in ping.stdout:
            return f'no Slurm controller answers: {(ping.stdout + ping.stderr).strip()}'
        args = ['sinfo', '-h', '-o', '%P %t'] + (['-p', partition] if partition else [])
        states = subprocess.run(args, capture_output=True, text=True, timeout=10).stdout.split('\n')
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f'Slurm commands failed: {exc}'
    states = [line.split() for line in states if line.strip()]
    if not states:
        return f'Slurm has no partition {partition!r}' if partition else 'Slurm has no partition'
    if not any(state.rstrip('*~#!%$@^-') in ('idle', 'mix', 'alloc') for _, state in states):
        return f'no node of partition {partition or states[0][0]!r} can run jobs (states: ' \
               f'{", ".join(sorted({s for _, s in states}))})'
    return None


@functools.cache
def _slurm_status() -> tuple[str, str | None]:
    """The partition the tests use, and why it cannot run jobs (``None``: it can); checked once per session."""
    partition = os.environ.get('EXAMOL_SLURM_PARTITION', 'debug')
    return partition, _slurm_problem(partition)


def _slurm_or_skip() -> str:
    partition, problem = _slurm_status()
    if problem is not None:
        message = f'{problem}. Start a one-node cluster with `.ci/slurm-up` (as root).'
        if os.environ.get('EXAMOL_REQUIRE_SLURM') == '1':
            pytest.fail(message + ' EXAMOL_REQUIRE_SLURM=1 requires the slurm tests to run.', pytrace=False)
        pytest.skip(message)
    return partition


@pytest.fixture(scope='session')
def slurm_partition() -> str:
    """The partition of a running Slurm cluster with a usable node (``EXAMOL_SLURM_PARTITION``, default ``debug``).

    Without one, tests using it (and every test marked ``slurm``) are skipped, unless
    ``EXAMOL_REQUIRE_SLURM=1`` (set by ``.ci/run``, which starts a cluster with ``.ci/slurm-up``)
    turns the skip into a failure.
    """
    return _slurm_or_skip()


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker('slurm') is not None:
        _slurm_or_skip()
