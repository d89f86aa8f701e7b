"""The generic recipe loop of the core (``examol_core.simulator.run_recipes``) with a fake simulator."""
from __future__ import annotations

import pytest

from examol_core import MoleculeRecord, RedoxEnergy
from examol_core.recipes import SimulationRequest
from examol_core.simulator import SimulationResult, Simulator, apply_result, run_recipes


class FakeSimulator(Simulator):
    """Energy = -100 eV + 9 eV per unit of charge (+0.5 eV for a cation at a neutral geometry); no geometry change."""

    def __init__(self, fail_on: tuple[bool, int] | None = None):
        self.fail_on = fail_on
        self.calls: list[SimulationRequest] = []

    @property
    def config_names(self) -> tuple[str, ...]:
        return ('fake',)

    def simulate(self, request: SimulationRequest) -> SimulationResult:
        self.calls.append(request)
        if self.fail_on == (request.optimize, request.charge):
            return SimulationResult(request=request, success=False, failure=f'{request.smiles}: did not converge')
        energy = -100. + 9. * request.charge + (0.5 if request.charge and not request.optimize else 0.)
        xyz = request.xyz if not request.optimize else request.xyz.replace('\n\n', f'\ncharge {request.charge}\n', 1)
        return SimulationResult(request=request, success=True, xyz=xyz, energy=energy)


RECIPES = [RedoxEnergy(1, 'fake', vertical=True), RedoxEnergy(1, 'fake')]


def test_runs_every_recipe_and_results_replay():
    record = MoleculeRecord.from_identifier('CCO')
    start = record.model_copy(deep=True)
    outcome = run_recipes(record, RECIPES, FakeSimulator())
    assert outcome.success and outcome.simulations == 3, 'relax neutral, cation single point, relax cation'
    assert outcome.values == {RECIPES[0].spec: pytest.approx(9.5), RECIPES[1].spec: pytest.approx(9.0)}
    assert len(outcome.results) == 3
    # Replaying the results on the steering side's copy of the starting record reproduces the record
    for result in outcome.results:
        apply_result(start, result)
    assert [r.update_record(start) for r in RECIPES] == [pytest.approx(9.5), pytest.approx(9.0)]
    assert start.properties == record.properties
    assert [(c.xyz, c.source, c.config_name, c.charge, [e.energy for e in c.energies]) for c in start.conformers] == \
        [(c.xyz, c.source, c.config_name, c.charge, [e.energy for e in c.energies]) for c in record.conformers]


def test_known_values_need_no_simulation():
    record = MoleculeRecord.from_identifier('CCO')
    run_recipes(record, RECIPES, FakeSimulator())
    simulator = FakeSimulator()
    again = run_recipes(record, RECIPES, simulator)
    assert again.simulations == 0 and simulator.calls == [] and again.success


def test_failure_is_reported_and_later_recipes_still_run():
    record = MoleculeRecord.from_identifier('CCO')
    outcome = run_recipes(record, RECIPES, FakeSimulator(fail_on=(True, 1)))
    assert RECIPES[0].spec in outcome.values
    assert outcome.failures == {RECIPES[1].spec: 'CCO: did not converge'}
    assert not outcome.success
