"""The record loop: from a bare SMILES to the three oxidation-potential levels."""
import pytest
from examol_core.errors import SimulationError
from examol_core.recipes import RedoxEnergy, SimulationRequest
from examol_core.records import MoleculeRecord
from examol_core.simulator import SimulationResult, apply_result

from examol_xtb import XTBSimulator, compute_recipes, recipe_key

RECIPES = [RedoxEnergy(1, 'gfn1', vertical=True), RedoxEnergy(1, 'gfn2', vertical=True), RedoxEnergy(1, 'gfn2')]


@pytest.fixture(scope='module')
def computed():
    outcomes = {}
    for smiles in ('CCO', 'C1=CC=CC=C1', 'CC(=O)N'):
        record = MoleculeRecord.from_identifier(smiles)
        outcomes[smiles] = compute_recipes(record, RECIPES, XTBSimulator())
    return outcomes


def test_three_levels_from_bare_smiles(computed):
    for smiles, outcome in computed.items():
        assert outcome.success, outcome.failures
        values = outcome.record.properties['oxidation_potential']
        assert set(values) == {'gfn1-vertical', 'gfn2-vertical', 'gfn2-adiabatic'}
        assert outcome.values == {recipe_key(r): values[r.level] for r in RECIPES}
        assert all(5 < v < 20 for v in values.values()), (smiles, values)


def test_vertical_at_least_adiabatic(computed):
    for outcome in computed.values():
        values = outcome.record.properties['oxidation_potential']
        assert values['gfn2-vertical'] >= values['gfn2-adiabatic'] - 1e-3


def test_gfn1_and_gfn2_agree_in_order(computed):
    """Benzene ionises more easily than ethanol at both levels."""
    ox = {s: o.record.properties['oxidation_potential'] for s, o in computed.items()}
    for level in ('gfn1-vertical', 'gfn2-vertical', 'gfn2-adiabatic'):
        assert ox['C1=CC=CC=C1'][level] < ox['CCO'][level]


def test_rerun_needs_no_simulations_and_round_trips(computed):
    record = MoleculeRecord.model_validate_json(computed['CCO'].record.model_dump_json())
    again = compute_recipes(record, RECIPES, XTBSimulator(), recompute=True)
    assert again.simulations == 0
    assert again.values == computed['CCO'].values
    kinds = {(c.source, c.config_name, c.charge) for c in record.conformers}
    assert {('relaxation', 'gfn1', 0), ('relaxation', 'gfn2', 0), ('relaxation', 'gfn2', 1)} <= kinds


def test_embedding_failure_is_reported(monkeypatch):
    import examol_core.recipes

    def fail(smiles):
        raise SimulationError(f'{smiles}: conformer embedding (ETKDG) failed')

    monkeypatch.setattr(examol_core.recipes, 'generate_initial_xyz', fail)
    record = MoleculeRecord.from_identifier('CCO')
    outcome = compute_recipes(record, RECIPES[:1], XTBSimulator())
    assert not outcome.success
    assert 'CCO' in outcome.failures['oxidation_potential/gfn1-vertical']
    assert 'embedding' in outcome.failures['oxidation_potential/gfn1-vertical']
    assert record.conformers == [] and record.properties == {}


def test_failed_simulation_leaves_record_consistent():
    record = MoleculeRecord.from_identifier('CCO')
    outcome = compute_recipes(record, RECIPES, XTBSimulator(max_steps=1))
    assert set(outcome.failures) == {recipe_key(r) for r in RECIPES}
    assert all('did not converge' in reason and 'CCO' in reason for reason in outcome.failures.values())
    assert record.properties == {}
    assert record.conformers == [], 'planning added nothing, and no relaxation converged'


def test_relaxation_landing_on_another_minimum_keeps_both():
    """An optimiser converged at its first step must not relabel an earlier relaxation."""
    record = MoleculeRecord.from_identifier('C')
    xyz = '5\n\nC 0 0 0\nH 0.63 0.63 0.63\nH -0.63 -0.63 0.63\nH -0.63 0.63 -0.63\nH 0.63 -0.63 -0.63\n'
    for charge, energy in ((0, -100.), (1, -90.)):
        request = SimulationRequest(xyz=xyz, optimize=True, config_name='gfn2', charge=charge)
        assert apply_result(record, SimulationResult(request=request, success=True, xyz=xyz, energy=energy))
    assert record.find_lowest_conformer('gfn2', 0)[1] == -100.
    assert record.find_lowest_conformer('gfn2', 1)[1] == -90.
    single = SimulationRequest(xyz=xyz, optimize=False, config_name='gfn1', charge=0)
    assert apply_result(record, SimulationResult(request=single, success=True, xyz=xyz, energy=-50.))
    assert all(c.get_energy('gfn1', 0) == -50. for c in record.conformers)


def test_simulator_that_raises_is_reported():
    class Broken(XTBSimulator):
        def simulate(self, request):
            raise RuntimeError('worker lost')

    record = MoleculeRecord.from_identifier('CCO')
    outcome = compute_recipes(record, RECIPES[:1], Broken())
    reason = outcome.failures['oxidation_potential/gfn1-vertical']
    assert 'CCO' in reason and 'gfn1 optimisation' in reason and 'worker lost' in reason
    assert record.properties == {}
