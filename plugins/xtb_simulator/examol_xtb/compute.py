"""Run recipes to completion for one record: suggest → simulate → apply, until the property exists.

Runs wherever the whole loop for a molecule should run: in a process-pool worker for the data
set script, or on the steering side with a simulator that ships each request elsewhere.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from examol_core.errors import MissingDataError, SimulationError
from examol_core.recipes import PropertyRecipe
from examol_core.records import MoleculeRecord
from examol_core.simulator import Simulator, apply_result


@dataclass
class RecipeOutcome:
    """What :func:`compute_recipes` achieved for one record.

    Attributes:
        record: The record, updated in place with every successful simulation and property.
        values: ``"name/level"`` → computed value, for the recipes that completed.
        failures: ``"name/level"`` → why that recipe could not be completed (names molecule and step).
        simulations: Number of simulations run.
        runtime: Wall time (s).
    """

    record: MoleculeRecord
    values: dict[str, float] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    simulations: int = 0
    runtime: float = 0.

    @property
    def success(self) -> bool:
        return not self.failures


def recipe_key(recipe: PropertyRecipe) -> str:
    """``"name/level"``, the form :meth:`PropertyRecipe.from_spec` reads back."""
    return f'{recipe.name}/{recipe.level}'


def compute_recipes(record: MoleculeRecord, recipes: Sequence[PropertyRecipe], simulator: Simulator,
                    max_rounds: int = 5, recompute: bool = False) -> RecipeOutcome:
    """Compute each recipe for a record, running the simulations it still needs.

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
        The outcome: values, failures (with reasons), number of simulations, time.
    """
    start = time.perf_counter()
    outcome = RecipeOutcome(record=record)
    smiles = record.identifier.smiles
    for recipe in recipes:
        key = recipe_key(recipe)
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
