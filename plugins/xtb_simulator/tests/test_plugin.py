"""The plugin registers through the ``examol`` entry points and stays light to load."""
import subprocess
import sys

from examol_core.plugins import available_simulators, load_simulator, reset_plugins

from examol_xtb import XTBSimulator


def test_registered_through_entry_point():
    reset_plugins()
    spec = available_simulators()['xtb']
    assert spec.distribution == 'examol-xtb'
    assert spec.config_names == ('gfn1', 'gfn2')
    simulator = load_simulator('xtb', fmax=0.1)
    assert isinstance(simulator, XTBSimulator)
    assert simulator.fmax == 0.1
    assert simulator.config_names == ('gfn1', 'gfn2')


def test_loading_does_not_import_tblite_or_ase():
    code = ('import sys; from examol_core.plugins import available_simulators; available_simulators(); '
            'import examol_xtb; print(sorted(m for m in ("tblite", "ase") if m in sys.modules))')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == '[]'
