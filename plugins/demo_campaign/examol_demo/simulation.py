"""Simulations: the task that runs on workers, and the steering side's view of them.

A molecule picked by several strategies is simulated once: :class:`Simulations` hands every
strategy that asks for it the same :class:`~concurrent.futures.Future`, which a result processor
completes when the task comes back.
"""
from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import replace
from typing import Any

from examol_core.colmena.proxies import resolve
from examol_core.recipes import PropertyRecipe
from examol_core.records import MoleculeRecord
from examol_core.simulator import RecipeOutcome, Simulator, run_recipes

from examol_demo.results import SimulationCheck
from examol_demo.settings import EXPENSIVE

__all__ = ['simulate_task', 'make_simulation_method', 'Simulations', 'Outcome']

Outcome = RecipeOutcome | str
"""What a simulation gives a strategy: the outcome to fold in, or why it failed."""


def simulate_task(simulator: Simulator, record: MoleculeRecord, recipes: Sequence[PropertyRecipe],
                  max_rounds: int = 5) -> RecipeOutcome:
    """Run the recipes for one molecule (on a worker); return the outcome and the results to fold in.

    Optimisation trajectories are dropped from the results: the steering side needs only the
    final geometries and energies.
    """
    outcome = run_recipes(record, recipes, simulator, max_rounds=max_rounds)
    outcome.results = [replace(r, steps=()) for r in outcome.results]
    return outcome


def make_simulation_method(simulator: Simulator, name: str, recipes: Sequence[PropertyRecipe] = EXPENSIVE
                           ) -> Callable[..., RecipeOutcome]:
    """:func:`simulate_task` bound to a simulator and recipes, named ``{name}_simulate`` for the task server."""
    bound = functools.partial(simulate_task, simulator, recipes=tuple(recipes))
    functools.update_wrapper(bound, simulate_task)
    bound.__name__ = bound.__qualname__ = f'{name}_simulate'
    return bound


class Simulations:
    """Submits each molecule's simulation once and completes its future when the result comes back.

    Failed tasks are retried by the task server (Colmena's ``max_retries``) before their failure is final.

    Args:
        queues: Client side of the task server's queues (topic ``simulate``).
        method: Name of the simulation method on the task server.
        truth: InChIKey → stored values, to check what the simulations compute.
        retries: Times the task server retries a failed task.
    """

    def __init__(self, queues: Any, method: str, truth: dict[str, dict[str, float]], retries: int = 1):
        self.queues, self.method, self.truth, self.retries = queues, method, truth, retries
        self.checks: list[SimulationCheck] = []
        """Each successful simulation compared with the stored data set."""
        self.failures: dict[str, str] = {}
        """SMILES → why its simulation failed."""
        self._futures: dict[str, Future] = {}  # InChIKey → its outcome
        self._lock = threading.Lock()

    @property
    def submitted(self) -> int:
        """Molecules asked for so far."""
        return len(self._futures)

    def request(self, records: Sequence[MoleculeRecord], task_info: dict[str, Any]) -> list[Future]:
        """Futures of the outcomes of ``records``, submitting the molecules not simulated or running yet."""
        with self._lock:  # two strategies asking for one molecule at once get one task
            for record in records:
                if record.key not in self._futures:
                    self._futures[record.key] = Future()
                    self.queues.send_inputs(record, method=self.method, topic='simulate', max_retries=self.retries,
                                            task_info={**task_info, 'examol_key': record.key,
                                                       'smiles': record.identifier.smiles})
            return [self._futures[r.key] for r in records]

    def add_result(self, result: Any) -> None:
        """Complete the future of the molecule a result is for (from a ``@result_processor``).

        Raises:
            ValueError: a result for a molecule that was not requested.
        """
        key, smiles = (result.task_info or {}).get('examol_key'), result.task_info.get('smiles')
        if key not in self._futures:
            raise ValueError(f'Result of simulation task {result.task_id} for a molecule that was not requested')
        if not result.success:
            outcome: Outcome = f'the task failed: {result.failure_info.exception if result.failure_info else "?"}'
        else:
            outcome = resolve(result.value)
            if outcome.success:
                computed = {r.level: outcome.values[r.spec] for r in EXPENSIVE}
                self.checks.append(SimulationCheck(smiles=smiles, computed=computed, runtime=outcome.runtime,
                                                   stored={k: self.truth[key][k] for k in computed}))
            else:
                outcome = '; '.join(outcome.failures.values())
        if isinstance(outcome, str):
            self.failures[smiles] = outcome
        self._futures[key].set_result(outcome)
