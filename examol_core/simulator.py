"""The simulator protocol: run the computations that recipes ask for.

A :class:`Simulator` turns a :class:`~examol_core.recipes.SimulationRequest` into a
:class:`SimulationResult`. ``simulate`` may run on a remote worker; its arguments and results
pickle. :func:`apply_result` folds a result into a record on the steering side;
:func:`run_recipes` runs recipes to completion for one record with any simulator.
"""
from __future__ import annotations

import abc
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from examol_core.errors import MissingDataError, SimulationError
from examol_core.recipes import PropertyRecipe, SimulationRequest
from examol_core.records import Conformer, EnergyEvaluation, MoleculeRecord, xyz_hash


@dataclass(frozen=True)
class SimulationStep:
    """One geometry along an optimisation and its energy (eV)."""

    xyz: str = field(repr=False)
    energy: float


@dataclass(frozen=True)
class SimulationResult:
    """Outcome of one simulation.

    ``success`` is False when the calculation failed; ``failure`` then names the molecule and
    the step, and the result must not be applied to a record.
    """

    request: SimulationRequest
    success: bool
    xyz: str | None = field(default=None, repr=False)
    energy: float | None = None
    steps: tuple[SimulationStep, ...] = field(default=(), repr=False)
    failure: str | None = None
    runtime: float = 0.


class Simulator(abc.ABC):
    """Computes energies and relaxed geometries for simulation requests."""

    @property
    @abc.abstractmethod
    def config_names(self) -> tuple[str, ...]:
        """Names of the computational methods this simulator offers (e.g. ``gfn2``)."""

    @abc.abstractmethod
    def simulate(self, request: SimulationRequest) -> SimulationResult:
        """Run one request (may run on a remote worker). Failures are returned, not raised."""


def apply_result(record: MoleculeRecord, result: SimulationResult) -> bool:
    """Fold a successful result into a record: the final geometry and its energy.

    Relaxations add a conformer marked ``relaxation`` with the method and charge; single points
    add an energy to the conformer whose geometry was used. Failed results change nothing.

    A relaxation that ends on a geometry already relaxed for *another* method or charge (an
    optimiser that was converged at its first step) gets a conformer of its own, so that the
    earlier relaxation is not lost; single-point energies go to every conformer with that geometry.

    Returns:
        Whether the record changed.
    """
    if not result.success or result.xyz is None or result.energy is None:
        return False
    req = result.request
    energy = EnergyEvaluation(energy=result.energy, config_name=req.config_name, charge=req.charge, solvent=req.solvent)
    key = xyz_hash(result.xyz)
    matches = [conf for conf in record.conformers if conf.xyz_hash == key]
    if not req.optimize and matches:
        changed = False
        for conf in matches:
            changed = conf.add_energy(energy.model_copy()) or changed
        return changed
    if req.optimize:
        target = (req.config_name, req.charge)
        for conf in matches:
            if conf.source == 'relaxation' and (conf.config_name, conf.charge) == target:
                return conf.add_energy(energy)
        for conf in matches:
            if conf.source != 'relaxation':
                # The same geometry is now known to be a minimum for this method and charge
                conf.source, conf.config_name, conf.charge = 'relaxation', req.config_name, req.charge
                conf.add_energy(energy)
                return True
    record.conformers.append(Conformer(
        xyz=result.xyz, source='relaxation' if req.optimize else 'other',
        config_name=req.config_name if req.optimize else None, charge=req.charge, energies=[energy]))
    return True


def recipe_key(recipe: PropertyRecipe) -> str:
    """Deprecated alias of :attr:`PropertyRecipe.spec` (``"name/level"``), kept for existing callers."""
    return recipe.spec


@dataclass
class RecipeOutcome:
    """What :func:`run_recipes` achieved for one record.

    Attributes:
        record: The record, updated in place with every successful simulation and property.
        values: ``"name/level"`` → computed value, for the recipes that completed.
        failures: ``"name/level"`` → why that recipe could not be completed (names molecule and step).
        simulations: Number of simulations run.
        runtime: Wall time (s).
        results: Every successful simulation result, in the order applied: replaying them with
            :func:`apply_result` on a copy of the starting record reproduces ``record``'s conformers
            and, with ``update_record``, its properties (this is how a steering process folds the
            work of a remote worker into its own records). Planning adds nothing to the record:
            the MMFF starting geometry of a record without conformers lives only in the first request.
    """

    record: MoleculeRecord
    values: dict[str, float] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    simulations: int = 0
    runtime: float = 0.
    results: list[SimulationResult] = field(default_factory=list, repr=False)

    @property
    def success(self) -> bool:
        return not self.failures


def run_recipes(record: MoleculeRecord, recipes: Sequence[PropertyRecipe], simulator: Simulator,
                max_rounds: int = 5, recompute: bool = False) -> RecipeOutcome:
    """Compute each recipe for a record, running the simulations it still needs.

    The loop is suggest → simulate → :func:`apply_result` → ``update_record``, for any recipe and
    any simulator. It runs wherever the whole loop for one molecule should run: on a worker (one
    task per molecule), in a process pool, or on the steering side with a simulator that ships
    each request elsewhere.

    Recipes run in the order given, each to completion, so later ones reuse earlier geometries
    (list the cheapest first: a GFN2 relaxation then starts from the GFN1 minimum). A failed
    simulation leaves the record as it was before that simulation; the recipe is reported as
    failed and the next one is attempted.

    Args:
        record: Record to update in place.
        recipes: Recipes to compute.
        simulator: Runs the simulations (its ``config_names`` must cover the recipes).
        max_rounds: Rounds of suggest → simulate per recipe before giving up.
        recompute: Recompute properties already stored in the record.
    Returns:
        The outcome: values, failures (with reasons), simulations run and their results, time.
    """
    start = time.perf_counter()
    outcome = RecipeOutcome(record=record)
    smiles = record.identifier.smiles
    for recipe in recipes:
        key = recipe.spec
        if not recompute and (value := recipe.lookup(record)) is not None:
            outcome.values[key] = value
            continue
        failure = None
        for _ in range(max_rounds):
            try:
                outcome.values[key] = recipe.update_record(record)
                break
            except MissingDataError:
                pass
            try:
                requests = recipe.suggest_computations(record)
            except SimulationError as exc:  # e.g. no initial conformer could be embedded
                failure = str(exc)
                break
            except Exception as exc:
                failure = f'{smiles}: planning {key} failed: {type(exc).__name__}: {exc}'
                break
            if not requests:
                failure = f'{smiles}: {key} proposes no simulation but cannot be computed'
                break
            for request in requests:
                try:
                    result = simulator.simulate(request)
                except Exception as exc:  # simulators should return failures; a third-party one may raise
                    failure = (f'{smiles}: {request.config_name} {"optimisation" if request.optimize else "single point"}'
                               f' (charge {request.charge}) raised {type(exc).__name__}: {exc}')
                    break
                outcome.simulations += 1
                if not result.success:
                    failure = result.failure or f'{smiles}: a {request.config_name} simulation failed'
                    break
                apply_result(record, result)
                outcome.results.append(result)
            if failure:
                break
        else:
            try:
                outcome.values[key] = recipe.update_record(record)
            except MissingDataError as exc:
                failure = f'{smiles}: {key} still incomplete after {max_rounds} rounds: {exc}'
        if failure and key not in outcome.values:
            outcome.failures[key] = failure
    outcome.runtime = time.perf_counter() - start
    return outcome
