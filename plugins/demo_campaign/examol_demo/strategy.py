"""One strategy's own records and what it knows; changed only by the agent that runs the strategy."""
from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
from examol_core.records import MoleculeRecord
from examol_core.simulator import apply_result

from examol_demo.data import DemoData
from examol_demo.results import RoundSummary, StrategyResult
from examol_demo.settings import EXPENSIVE, TOP
from examol_demo.simulation import Outcome

__all__ = ['Strategy']


class Strategy:
    """The running state of one strategy (steering side).

    Args:
        key: ``multi``, ``single`` or ``random``.
        label: Shown in the report.
        learner: ``multi`` or ``single`` fidelity learning, ``None`` for random picks.
        data: The campaign's data: the strategy works on its own copies of the candidates.
        rng: Random picks of the random strategy.
    """

    def __init__(self, key: str, label: str, learner: str | None, data: DemoData, rng: np.random.Generator):
        self.key = key
        self.learner = learner
        self.rng = rng
        self.result = StrategyResult(key=key, label=label, learner=learner)
        self.records = [r.model_copy(deep=True) for r in data.pool]  # never shared: strategies keep their own labels
        self.labelled: list[int] = list(data.seed)
        self.failed: list[int] = []

    @property
    def round(self) -> int:
        """Batches acquired so far."""
        return max(len(self.result.history) - 1, 0)

    def candidates(self) -> list[int]:
        """Positions of the molecules not simulated yet."""
        taken = set(self.labelled) | set(self.failed)
        return [i for i in range(len(self.records)) if i not in taken]

    def training_records(self) -> list[MoleculeRecord]:
        """Every candidate for multi-fidelity learning (each level from those that know it), else the labelled ones."""
        return self.records if self.learner == 'multi' else [self.records[i] for i in self.labelled]

    def best(self) -> tuple[float, str]:
        """Best top-level value known and its molecule's SMILES."""
        values = [(TOP.lookup(self.records[i]), self.records[i].identifier.smiles) for i in self.labelled]
        return max((v, s) for v, s in values if v is not None)

    def fold(self, batch: Sequence[int], outcomes: Sequence[Outcome], started: float) -> RoundSummary:
        """Apply a batch's simulation results to this strategy's records and close the round.

        Args:
            batch: Positions of the molecules simulated.
            outcomes: Their outcomes, in the same order (a string: why the simulation failed).
            started: ``time.time()`` at the start of the campaign.
        """
        for index, outcome in zip(batch, outcomes, strict=True):
            record = self.records[index]
            if isinstance(outcome, str):
                self.failed.append(index)
                self.result.failed.append(record.identifier.smiles)
                continue
            for result in outcome.results:
                apply_result(record, result)
            for recipe in EXPENSIVE:
                recipe.update_record(record)
            self.labelled.append(index)
        return self.close_round([self.records[i] for i in batch], started)

    def close_round(self, batch: Sequence[MoleculeRecord], started: float) -> RoundSummary:
        """Record the state after a round (round 0: the seed set)."""
        best, smiles = self.best()
        summary = RoundSummary(round=len(self.result.history), acquired=[r.identifier.smiles for r in batch],
                               values=[TOP.lookup(r) for r in batch], labelled=len(self.labelled), best=best,
                               best_smiles=smiles, elapsed=time.time() - started)
        self.result.history.append(summary)
        return summary

    def record_accuracy(self, mean: np.ndarray, std: np.ndarray, true: np.ndarray) -> float:
        """Store the ensemble's predictions of the held-out molecules; return their MAE for the current round."""
        mae = float(np.mean(np.abs(np.asarray(mean) - true)))
        self.result.history[-1].mae = mae
        self.result.test_mean = [float(x) for x in mean]
        self.result.test_std = [float(x) for x in std]
        return mae
