"""The plugin registry, with the toy plugin installed for real and registered by hand."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from examol_core import plugins
from examol_core.errors import UnknownPluginError
from examol_core.plugins import ScorerSpec, hookimpl

TOY = Path(__file__).parent / 'toy_plugin'


def _run(code: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-c', textwrap.dedent(code)], env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope='module')
def installed_plugins(tmp_path_factory):
    """The toy plugin and a broken plugin, pip-installed into a private target folder."""
    target = tmp_path_factory.mktemp('site')
    broken = tmp_path_factory.mktemp('broken_src')
    (broken / 'pyproject.toml').write_text(textwrap.dedent('''
        [build-system]
        requires = ["setuptools>=69"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "examol-broken"
        version = "6.6.6"
        [project.entry-points.examol]
        broken = "examol_broken"
        [tool.setuptools]
        py-modules = ["examol_broken"]
    '''))
    (broken / 'examol_broken.py').write_text('raise ImportError("needs libfoo 2.0")\n')
    for source in (TOY, broken):
        subprocess.run([sys.executable, '-m', 'pip', 'install', '--quiet', '--no-deps', '--no-build-isolation',
                        '--target', str(target), str(source)], check=True, timeout=300)
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join([str(target), os.environ.get('PYTHONPATH', '')])}
    return env


def test_third_party_plugin_is_discovered_and_used(installed_plugins):
    result = _run('''
        import numpy as np
        from examol_core import MoleculeRecord
        from examol_core.plugins import available_scorers, load_scorer, make_model, plugin_errors
        spec = available_scorers()['toy']
        print(spec.distribution, spec.version, sorted(spec.models))
        scorer = load_scorer('toy')
        model = make_model('toy', 'lookup')
        records = [MoleculeRecord.from_identifier(s) for s in ('CCO', 'CCN')]
        inputs = scorer.transform_inputs(records)
        model = scorer.update(model, scorer.retrain(scorer.prepare_message(model, training=True), inputs, np.array([1., 2.])))
        print(scorer.score(scorer.prepare_message(model), inputs).tolist())
        print([e.entry_point for e in plugin_errors()])
    ''', installed_plugins)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "examol-toy 0.0.1 ['lookup']"
    assert lines[1] == '[1.0, 2.0]'
    assert lines[2] == "['broken']", 'the broken plugin is reported and does not hide the toy one'


def test_command_lists_plugins_and_errors(installed_plugins):
    result = subprocess.run([sys.executable, '-m', 'examol_core', 'plugins', '--json'], env=installed_plugins,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, 'a broken plugin makes the command fail'
    listing = json.loads(result.stdout)
    assert listing['scorers']['toy']['models'] == ['lookup']
    assert listing['scorers']['toy']['version'] == '0.0.1'
    [error] = [e for e in listing['errors'] if e['entry_point'] == 'broken']
    assert error['distribution'] == 'examol-broken' and error['version'] == '6.6.6'
    assert 'needs libfoo 2.0' in error['error']
    human = subprocess.run([sys.executable, '-m', 'examol_core', 'plugins'], env=installed_plugins,
                           capture_output=True, text=True, timeout=120)
    assert 'toy' in human.stdout and "Failed to load plugin 'broken'" in ' '.join(human.stdout.split())


def test_disable_plugins_env(installed_plugins):
    env = {**installed_plugins, 'EXAMOL_DISABLE_PLUGINS': 'broken'}
    result = _run('from examol_core.plugins import plugin_errors; print(len(plugin_errors()))', env)
    assert result.stdout.strip() == '0', result.stderr


class _TempPlugin:
    @hookimpl
    def examol_scorers(self):
        return [ScorerSpec(name='temp', scorer='examol_core.testing:ScorerCase', models={'m': dict})]


@pytest.fixture()
def temp_plugin():
    pm = plugins.get_plugin_manager()
    plugin = _TempPlugin()
    pm.register(plugin, name='temp')
    yield
    pm.unregister(plugin)


def test_unknown_names_list_what_is_installed(temp_plugin):
    assert plugins.make_model('temp', 'm', a=1) == {'a': 1}
    with pytest.raises(UnknownPluginError, match=r"No scorer named 'nope' is installed; available: .*temp"):
        plugins.load_scorer('nope')
    with pytest.raises(UnknownPluginError, match=r"has no model 'x'; it provides: m"):
        plugins.make_model('temp', 'x')
    with pytest.raises(LookupError):
        plugins.load_simulator('nope')


def test_every_hook_is_documented():
    from examol_core.plugins import hookspecs
    for name in dir(hookspecs):
        if name.startswith('examol_'):
            doc = getattr(hookspecs, name).__doc__ or ''
            assert 'return' in doc.lower(), f'hook {name} must say what it returns'


class _CommandPlugin:
    @hookimpl
    def examol_register_commands(self, app):
        @app.command('hello')
        def hello(name: str = 'world') -> None:
            print(f'hello {name}')


class _BrokenCommandPlugin:
    @hookimpl
    def examol_register_commands(self, app):
        raise RuntimeError('no typer here')


def test_plugins_add_commands_and_a_broken_one_is_reported():
    import typer
    from typer.testing import CliRunner

    pm = plugins.get_plugin_manager()
    good, broken = _CommandPlugin(), _BrokenCommandPlugin()
    pm.register(good, name='cmd-good')
    pm.register(broken, name='cmd-broken')
    try:
        app = typer.Typer()

        @app.command()
        def core() -> None:
            """A core command."""

        assert 'cmd-good' in plugins.register_commands(app)
        result = CliRunner().invoke(app, ['hello', '--name', 'examol'])
        assert result.exit_code == 0 and result.output == 'hello examol\n'
        [error] = [e for e in plugins.plugin_errors() if e.entry_point == 'cmd-broken']
        assert 'examol_register_commands raised RuntimeError: no typer here' in error.error
    finally:
        pm.unregister(good)
        pm.unregister(broken)
        plugins.reset_plugins()


def test_a_missing_plugin_command_names_the_package_to_install():
    env = {**os.environ, 'EXAMOL_DISABLE_PLUGINS': 'demo'}
    for args in (['demo'], ['demo', '--quick', '--rounds', '3'], ['demo', '--help']):
        result = subprocess.run([sys.executable, '-m', 'examol_core', *args], env=env, capture_output=True,
                                text=True, timeout=120)
        text = ' '.join(result.stdout.split())
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert 'pip install examol-demo' in text and 'pip install ./plugins/demo_campaign' in text, text
