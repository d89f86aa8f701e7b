"""Sessions for every install combination, plus demo, benchmarks and lint.

``nox -s tests`` is the README's test command: it runs everything installed together and then
queues the isolated sessions (core alone, each plugin alone with the core).
"""
from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.default_venv_backend = 'uv|virtualenv'
# Compile bytecode at install: uv does not by default, and with PYTHONDONTWRITEBYTECODE set (as on CI
# machines) every process (Parsl's interchange, worker pool and workers, spawned servers) recompiled
# every module it imported, at each start. Measured: +17 s CPU to install core + rdkit, then about half
# the CPU of each process's start (a 300-molecule `examol score`: 18.6 -> 7.3 s of CPU with Parsl);
# tests/test_colmena_parsl.py + test_orphans.py: 28.5 -> 17.8 s. Set UV_COMPILE_BYTECODE=0 to skip.
os.environ.setdefault('UV_COMPILE_BYTECODE', '1')
nox.options.sessions = ['tests']

ROOT = Path(__file__).parent
PLUGINS = {
    'rdkit': 'plugins/rdkit_scorer',
    'nfp': 'plugins/nfp_scorer',
    'xtb': 'plugins/xtb_simulator',
    'chemprop': 'plugins/chemprop_scorer',
    'demo': 'plugins/demo_campaign',
}
NEEDS = {'demo': ('rdkit', 'xtb')}
"""Plugins a plugin depends on by distribution (installed with it; never imported by it)."""
TORCH = 'torch==2.13.0'
"""The torch that examol-chemprop is tested with, installed by pip before the plugin (see _install_cpu_torch)."""
QUIET_TF = {'TF_CPP_MIN_LOG_LEVEL': '2', 'CUDA_VISIBLE_DEVICES': '', 'OMP_NUM_THREADS': '1', 'TF_USE_LEGACY_KERAS': '1'}
PYTEST = ('pytest', '--import-mode=importlib', '-p', 'no:cacheprovider')


def _env(session: nox.Session) -> dict[str, str]:
    # Parsl's HighThroughputExecutor starts its interchange as a script: the venv's bin must be on PATH
    bindir = Path(session.virtualenv.location) / 'bin'
    return {**QUIET_TF, 'PATH': f'{bindir}{os.pathsep}{os.environ.get("PATH", "")}'}


def _install_cpu_torch(session: nox.Session) -> None:
    """Install the CPU build of torch with pip, before anything that depends on torch.

    PyPI's torch wheels for Linux bring several GB of CUDA libraries. pip finds a CPU build where
    its configuration points to one (set ``EXAMOL_TORCH_INDEX`` to PyTorch's CPU wheel index
    elsewhere); uv does not read pip's configuration, so torch goes in first, with pip, and the
    installs that follow find it already satisfied.
    """
    session.install('pip')
    index = os.environ.get('EXAMOL_TORCH_INDEX')
    session.run('python', '-m', 'pip', 'install', '--quiet', TORCH, 'numpy', *(['--index-url', index] if index else []))
    session.run('python', '-c', 'import sys, torch; print("torch", torch.__version__); '
                'sys.exit("a CUDA build of torch was installed" if torch.version.cuda else 0)')


def _plugins_present() -> dict[str, str]:
    return {name: path for name, path in PLUGINS.items() if (ROOT / path / 'pyproject.toml').exists()}


@nox.session
def tests(session: nox.Session) -> None:
    """Everything installed together: core, every plugin, the Colmena bridge; then the isolated sessions."""
    if 'chemprop' in _plugins_present():
        _install_cpu_torch(session)
    session.install('.[test]', *[f'./{p}' for p in _plugins_present().values()])
    test_dirs = ['tests', *[f'{p}/tests' for p in _plugins_present().values()]]
    session.run(*PYTEST, *test_dirs, *session.posargs, env=_env(session))
    if not session.posargs:
        session.notify('tests-core')
        for name in _plugins_present():
            session.notify(f'plugin-{name}')
        session.notify('lint')


@nox.session(name='tests-core', default=False)
def tests_core(session: nox.Session) -> None:
    """The core installed alone, with no plugin: its tests must pass and plugins must be absent."""
    session.install('.[test]')
    session.run('python', '-c', 'import importlib.util as u, sys; '
                f'sys.exit(any(u.find_spec(m) for m in {[f"examol_{n}" for n in PLUGINS] + ["sklearn", "tensorflow", "torch"]!r}))',
                silent=True)
    session.run(*PYTEST, 'tests', *session.posargs, env=_env(session))


for _name, _path in PLUGINS.items():
    def _make(name: str, path: str):
        @nox.session(name=f'plugin-{name}', default=False)
        def plugin(session: nox.Session) -> None:
            """One plugin installed after the core in its own environment, with only the plugins it needs."""
            if not (ROOT / path / 'pyproject.toml').exists():
                session.skip(f'{path} does not exist yet')
            if name == 'chemprop':
                _install_cpu_torch(session)
            session.install('.[test]')
            session.install(f'./{path}', *[f'./{PLUGINS[n]}' for n in NEEDS.get(name, ())])
            others = [f'examol_{n}' for n in PLUGINS if n != name and n not in NEEDS.get(name, ())]
            session.run('python', '-c', f'import importlib.util as u, sys; sys.exit(any(u.find_spec(m) for m in {others!r}))',
                        silent=True)
            session.run('examol', 'plugins', env=_env(session))
            session.run(*PYTEST, f'{path}/tests', *session.posargs, env=_env(session))
        return plugin
    globals()[f'plugin_{_name}'] = _make(_name, _path)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff on everything."""
    session.install('ruff>=0.6')
    session.run('ruff', 'check', '.')


@nox.session(default=False)
def demo(session: nox.Session) -> None:
    """The README's main command: an active-learning campaign on Colmena + Parsl with xTB simulations."""
    # examol-demo and the plugins it uses (RDKit scorer, xTB simulator): no TensorFlow needed
    session.install('.', *[f'./{PLUGINS[n]}' for n in ('demo', *NEEDS['demo'])])
    session.run('examol', 'demo', *session.posargs, env=_env(session))


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks: print throughput, memory and accuracy figures (pass --quick for a smoke run)."""
    if 'chemprop' in _plugins_present():
        _install_cpu_torch(session)
    session.install('.', *[f'./{p}' for p in _plugins_present().values()], 'datamol')
    for script in sorted((ROOT / 'bench').glob('*.py')):
        session.run('python', str(script), *session.posargs, env=_env(session))
