"""The simulator on small molecules: energies, spin, solvent, failures, reproducibility."""
import pickle

import pytest
from examol_core.conformers import generate_initial_xyz
from examol_core.recipes import SimulationRequest
from examol_core.records import MoleculeRecord
from examol_core.simulator import SimulationResult, apply_result

from examol_xtb import XTBSimulator, multiplicity


@pytest.fixture(scope='module')
def ethanol_xyz() -> str:
    return generate_initial_xyz('CCO')[0]


@pytest.fixture(scope='module')
def simulator() -> XTBSimulator:
    return XTBSimulator()


def single_point(simulator, xyz, config_name='gfn2', charge=0, solvent=None, smiles='CCO') -> SimulationResult:
    request = SimulationRequest(xyz=xyz, optimize=False, config_name=config_name, charge=charge, solvent=solvent,
                                smiles=smiles)
    result = simulator.simulate(request)
    assert result.success, result.failure
    assert result.xyz == xyz  # single points keep the request's geometry, so apply_result finds the conformer
    return result


def test_multiplicity():
    ethanol = [6, 6, 8] + [1] * 6
    assert multiplicity(ethanol, 0) == 1
    assert multiplicity(ethanol, 1) == 2
    assert multiplicity(ethanol, -1) == 2
    assert multiplicity(ethanol, 2) == 1
    assert multiplicity([6, 1, 1, 1], 0) == 2  # methyl radical


def test_ethanol_vertical_ionisation_energy(simulator, ethanol_xyz):
    """GFN2 at the MMFF geometry: 14.87 eV with tblite 0.8.0 (uncorrected xTB overestimates IEs)."""
    neutral = single_point(simulator, ethanol_xyz, charge=0).energy
    cation = single_point(simulator, ethanol_xyz, charge=1).energy
    assert cation - neutral == pytest.approx(14.87, abs=0.3)
    gfn1 = single_point(simulator, ethanol_xyz, 'gfn1', 1).energy - single_point(simulator, ethanol_xyz, 'gfn1').energy
    assert 12 < gfn1 < 19


def test_reproducible(simulator, ethanol_xyz):
    first = [single_point(simulator, ethanol_xyz, charge=c).energy for c in (0, 1)]
    second = [single_point(XTBSimulator(), ethanol_xyz, charge=c).energy for c in (0, 1)]
    assert first == pytest.approx(second, abs=1e-8)


def test_open_shell_neutral(simulator):
    """The methyl radical is computed as a doublet (its ground state), not as a closed shell or a quartet."""
    import io

    from ase.io import read
    from tblite.ase import TBLite

    xyz = '4\n\nC 0 0 0\nH 1.08 0 0\nH -0.54 0.935 0\nH -0.54 -0.935 0\n'
    result = single_point(simulator, xyz, smiles='[CH3]')

    def energy(multiplicity: int) -> float:
        atoms = read(io.StringIO(xyz), format='xyz')
        atoms.calc = TBLite(method='GFN2-xTB', charge=0, multiplicity=multiplicity, verbosity=0)
        return atoms.get_potential_energy()

    doublet, quartet = energy(2), energy(4)
    assert result.energy == pytest.approx(doublet, abs=1e-6)
    assert doublet < quartet - 0.5


def test_optimisation_returns_steps_and_pickles(simulator, ethanol_xyz):
    request = SimulationRequest(xyz=ethanol_xyz, optimize=True, config_name='gfn2', charge=1, smiles='CCO')
    result = simulator.simulate(request)
    assert result.success, result.failure
    assert len(result.steps) >= 2
    assert result.energy == pytest.approx(result.steps[-1].energy)
    assert result.energy < result.steps[0].energy
    assert result.xyz != ethanol_xyz
    clone = pickle.loads(pickle.dumps(result))
    assert clone == result
    assert pickle.loads(pickle.dumps(simulator)).fmax == simulator.fmax


def test_solvent(simulator, ethanol_xyz):
    vacuum = single_point(simulator, ethanol_xyz).energy
    water = single_point(simulator, ethanol_xyz, solvent='water').energy
    acn = single_point(simulator, ethanol_xyz, config_name='gfn2', solvent='acn').energy
    assert -1 < water - vacuum < 0  # ethanol is stabilised by water, by a fraction of an eV
    assert -1 < acn - vacuum < 0
    request = SimulationRequest(xyz=ethanol_xyz, optimize=False, config_name='gfn2', charge=0, solvent='unobtainium',
                                smiles='CCO')
    result = simulator.simulate(request)
    assert not result.success
    assert 'CCO' in result.failure and 'unobtainium' in result.failure


@pytest.mark.parametrize('change, expect', [
    ({'config_name': 'b3lyp'}, 'b3lyp'),
    ({'xyz': '3\n\nX 0 0 0\n'}, 'reading the geometry'),
])
def test_bad_requests_fail_clearly(simulator, ethanol_xyz, change, expect):
    request = SimulationRequest(**{'xyz': ethanol_xyz, 'optimize': False, 'config_name': 'gfn2', 'charge': 0,
                                   'smiles': 'CCO', **change})
    result = simulator.simulate(request)
    assert not result.success
    assert 'CCO' in result.failure and expect in result.failure


def test_unconverged_optimisation_fails_without_touching_record(ethanol_xyz):
    record = MoleculeRecord.from_identifier('CCO')
    before = record.model_dump_json()
    request = SimulationRequest(xyz=ethanol_xyz, optimize=True, config_name='gfn2', charge=1, smiles='CCO')
    result = XTBSimulator(max_steps=2).simulate(request)
    assert not result.success
    assert 'CCO' in result.failure and 'optimisation' in result.failure and 'did not converge' in result.failure
    assert not apply_result(record, result)
    assert record.model_dump_json() == before


def test_failure_without_smiles_names_formula(simulator, ethanol_xyz):
    request = SimulationRequest(xyz=ethanol_xyz, optimize=False, config_name='nope', charge=0)
    result = simulator.simulate(request)
    assert not result.success and result.failure.startswith('C2H6O')


def test_invalid_options():
    with pytest.raises(ValueError, match='optimizer'):
        XTBSimulator(optimizer='newton')
    with pytest.raises(ValueError, match='solvent_model'):
        XTBSimulator(solvent_model='smd')
