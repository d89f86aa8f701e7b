import pytest

from examol_core import MoleculeRecord, PropertyRecipe, RedoxEnergy, SolvationEnergy
from examol_core.conformers import KCAL_PER_EV
from examol_core.errors import MissingDataError
from examol_core.records import Conformer, EnergyEvaluation
from examol_core.simulator import SimulationResult, apply_result


@pytest.mark.parametrize(('recipe', 'name', 'level'), [
    (RedoxEnergy(1, 'gfn2'), 'oxidation_potential', 'gfn2-adiabatic'),
    (RedoxEnergy(-1, 'gfn1', vertical=True), 'reduction_potential', 'gfn1-vertical'),
    (RedoxEnergy(2, 'xtb', solvent='acn'), 'double_oxidation_potential', 'xtb-acn-adiabatic'),
    (RedoxEnergy(-2, 'xtb', vertical=True, solvent='water'), 'double_reduction_potential', 'xtb-water-vertical'),
    (SolvationEnergy('gfn2', 'water'), 'solvation_energy', 'gfn2-water'),
])
def test_names_levels_and_from_name(recipe, name, level):
    assert (recipe.name, recipe.level) == (name, level)
    rebuilt = PropertyRecipe.from_name(name, level)
    assert type(rebuilt) is type(recipe) and rebuilt == recipe
    assert PropertyRecipe.from_spec(f'{name}/{level}') == recipe


def test_bad_recipe_names():
    with pytest.raises(ValueError, match='charge'):
        RedoxEnergy(0, 'gfn2')
    with pytest.raises(ValueError, match="No recipe computes 'band_gap'"):
        PropertyRecipe.from_name('band_gap', 'x')
    with pytest.raises(ValueError, match='NAME/LEVEL'):
        PropertyRecipe.from_spec('oxidation_potential')


def _relaxed(xyz, config, charge, **energies):
    return Conformer(xyz=xyz, source='relaxation', config_name=config, charge=charge,
                     energies=[EnergyEvaluation(energy=e, config_name=config, charge=int(c.removeprefix('q')))
                               for c, e in energies.items()])


def test_redox_from_energies():
    record = MoleculeRecord.from_identifier('CCO')
    record.add_conformer(_relaxed('1\n\nO 0 0 0\n', 'gfn2', 0, q0=-100.0, q1=-90.0))
    vertical = RedoxEnergy(1, 'gfn2', vertical=True)
    adiabatic = RedoxEnergy(1, 'gfn2')
    assert vertical.compute_property(record) == pytest.approx(10.0)
    with pytest.raises(MissingDataError, match='charge=1'):
        adiabatic.compute_property(record)
    assert adiabatic.lookup(record, recompute=True) is None
    record.add_conformer(_relaxed('1\n\nO 1 0 0\n', 'gfn2', 1, q1=-91.5))
    assert adiabatic.update_record(record) == pytest.approx(8.5)
    assert record.properties['oxidation_potential'] == {'gfn2-adiabatic': pytest.approx(8.5)}
    assert adiabatic.lookup(record) == pytest.approx(8.5)
    assert vertical.lookup(record) is None


def test_solvation_in_kcal():
    record = MoleculeRecord.from_identifier('O')
    conf = record.add_conformer(_relaxed('1\n\nO 0 0 0\n', 'gfn2', 0, q0=-10.0))
    recipe = SolvationEnergy('gfn2', 'water')
    with pytest.raises(MissingDataError, match="solvent='water'"):
        recipe.compute_property(record)
    conf.add_energy(EnergyEvaluation(energy=-10.25, config_name='gfn2', charge=0, solvent='water'))
    assert recipe.compute_property(record) == pytest.approx(-0.25 * KCAL_PER_EV)


def test_suggest_computations_walks_the_recipe():
    """From a bare SMILES: relax first (from an MMFF geometry), then single points."""
    record = MoleculeRecord.from_identifier('CCO')
    recipe = RedoxEnergy(1, 'gfn2', vertical=True)
    before = record.model_dump()
    first = recipe.suggest_computations(record)
    assert [(r.optimize, r.config_name, r.charge) for r in first] == [(True, 'gfn2', 0)]
    assert record.model_dump() == before, 'a query changes nothing'
    assert recipe.suggest_computations(record) == first, 'and gives the same answer again'
    assert first[0].xyz.splitlines()[0] == '9'
    # Pretend the relaxation ran
    apply_result(record, SimulationResult(request=first[0], success=True, xyz=first[0].xyz, energy=-150.0))
    second = recipe.suggest_computations(record)
    assert [(r.optimize, r.charge) for r in second] == [(False, 1)]
    assert second[0].xyz == first[0].xyz
    apply_result(record, SimulationResult(request=second[0], success=True, xyz=second[0].xyz, energy=-140.0))
    assert recipe.suggest_computations(record) == []
    assert recipe.update_record(record) == pytest.approx(10.0)


def test_failed_simulation_leaves_record_alone():
    record = MoleculeRecord.from_identifier('CCO')
    request = RedoxEnergy(1, 'gfn2').suggest_computations(record)[0]
    before = record.model_dump()
    changed = apply_result(record, SimulationResult(request=request, success=False, failure='CCO: SCF did not converge'))
    assert not changed and record.model_dump() == before
