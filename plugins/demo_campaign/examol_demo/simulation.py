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

Outcome = RecipeOutcome | str  # what a strategy gets: the outcome to fold in, or why the simulation failed


def simulate_task(simulator: Simulator, record: MoleculeRecord, recipes: Sequence[PropertyRecipe],
                  max_rounds: int = 5) -> RecipeOutcome:
    """Run the recipes for one molecule on a worker, without the optimisation trajectories (not needed)."""
    outcome = run_recipes(record, recipes, simulator, max_rounds=max_rounds)
    outcome.results = [replace(r, steps=()) for r in outcome.results]
    return outcome


def make_simulation_method(simulator: Simulator, name: str, recipes: Sequence[PropertyRecipe] = EXPENSIVE
                           ) -> Callable[..., RecipeOutcome]:
    """:func:`simulate_task` bound to a simulator and recipes, named ``{name}_simulate`` for the task server."""
    bound = functools.update_wrapper(functools.partial(simulate_task, simulator, recipes=tuple(recipes)),
                                     simulate_task)
    bound.__name__ = bound.__qualname__ = f'{name}_simulate'
    return bound


class Simulations:
    """Submits each molecule's simulation once, through ``client.send``, and completes its future.

    Args:
        client: The campaign's :class:`~examol_core.colmena.ScorerClient` (it sends one task at a time).
        method: Name of the simulation method on the task server.
        truth: InChIKey → stored values, to check what the simulations compute (:attr:`checks`).
        retries: Times a failed task is resubmitted before its failure is final (:attr:`failures`).
    """

    def __init__(self, client: Any, method: str, truth: dict[str, dict[str, float]], retries: int = 1):
        self.client, self.method, self.truth, self.retries = client, method, truth, retries
        self.checks: list[SimulationCheck] = []
        self.failures: dict[str, str] = {}  # SMILES → why
        self._futures: dict[str, Future] = {}  # InChIKey → its outcome
        self._records: dict[str, MoleculeRecord] = {}
        self._attempts: dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def submitted(self) -> int:
        """Molecules asked for so far."""
        return len(self._futures)

    def request(self, records: Sequence[MoleculeRecord], task_info: dict[str, Any]) -> list[Future]:
        """Futures of the outcomes of ``records``, submitting the molecules not simulated or running yet."""
        with self._lock:  # two strategies asking for one molecule at once get one task
            new = [r for r in records if r.key not in self._futures]
            for record in new:
                self._futures[record.key], self._records[record.key] = Future(), record
        for record in new:
            self._submit(record.key, {**task_info, 'examol_key': record.key, 'smiles': record.identifier.smiles})
        return [self._futures[r.key] for r in records]

    def _submit(self, key: str, task_info: dict[str, Any]) -> None:
        self._attempts[key] = self._attempts.get(key, 0) + 1
        self.client.send(self._records[key], method=self.method, topic='simulate', input_kwargs={}, task_info=task_info)

    def add_result(self, result: Any) -> None:
        """Complete the future of the molecule a result is for, or resubmit it (from a result processor).

        Raises:
            ValueError: a result for a molecule that was not requested.
        """
        key, smiles = (result.task_info or {}).get('examol_key'), result.task_info.get('smiles')
        if key not in self._futures:
            raise ValueError(f'Result of simulation task {result.task_id} for a molecule that was not requested')
        if not result.success:
            if self._attempts[key] <= self.retries:
                return self._submit(key, result.task_info)
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
