"""What a campaign did: per-round summaries, tasks, simulation checks (pydantic: ``results.json``).

``result.model_dump_json()`` writes it; ``CampaignResult.model_validate_json(text)`` reads it back
(to redraw a report without running again).
"""
from __future__ import annotations

from pydantic import BaseModel, computed_field

from examol_demo.settings import DemoSettings

__all__ = ['RoundSummary', 'StrategyResult', 'TaskRecord', 'SimulationCheck', 'CampaignResult']


class RoundSummary(BaseModel):
    """The state of a strategy after a round (round 0: the seed set).

    Attributes:
        acquired: SMILES simulated in this round.
        values: Their top-level values (``None`` where the simulation failed).
        labelled: Molecules known at the top level after this round.
        best: Best top-level value known after this round (eV).
        best_smiles: The molecule that has it.
        mae: MAE on the held-out molecules of the ensemble trained on the data known after
            this round (learning strategies); the ensemble that picks the next batch.
        elapsed: Seconds from the start of the campaign to the end of the round.
    """

    round: int
    acquired: list[str]
    values: list[float | None]
    labelled: int
    best: float
    best_smiles: str
    mae: float | None = None
    elapsed: float = 0.


class StrategyResult(BaseModel):
    """What one strategy did.

    Attributes:
        test_mean, test_std: Final ensemble predictions for the held-out molecules (learning strategies).
    """

    key: str
    label: str
    learner: str | None
    history: list[RoundSummary] = []
    test_mean: list[float] | None = None
    test_std: list[float] | None = None
    failed: list[str] = []
    finished: float = 0.

    @computed_field
    @property
    def final_mae(self) -> float | None:
        return self.history[-1].mae if self.history else None


class TaskRecord(BaseModel):
    """One task as the thinker saw it come back (times in seconds from the start of the campaign)."""

    topic: str
    strategy: str | None
    round: int | None
    success: bool
    started: float
    ended: float
    running: float


class SimulationCheck(BaseModel):
    """A simulated molecule compared with the stored data set."""

    smiles: str
    computed: dict[str, float]
    stored: dict[str, float]
    runtime: float

    @computed_field
    @property
    def max_abs_diff(self) -> float:
        return max(abs(self.computed[k] - self.stored[k]) for k in self.computed)


class CampaignResult(BaseModel):
    """Everything the report needs.

    Attributes:
        pool_top: Top-level values of every candidate (hidden ones included), for ranks.
        baseline_offset: Mean of top level − cheap level over the seed set: the cheap level plus
            this offset is the simplest multi-fidelity estimate, a reference for the MAE.
        timings: Seconds: ``data`` (loading, split), ``server_start``, ``first_task_started`` (from
            the server's start), ``campaign`` (thinker started to last result), ``total``.
    """

    settings: DemoSettings
    strategies: list[StrategyResult]
    test_smiles: list[str]
    test_true: list[float]
    test_cheap: list[float]
    pool_top: list[float]
    pool_smiles: list[str]
    seed_smiles: list[str]
    tasks: list[TaskRecord]
    checks: list[SimulationCheck]
    simulation_failures: dict[str, str]
    timings: dict[str, float]
    baseline_offset: float = 0.
    versions: dict[str, str] = {}

    def strategy(self, key: str) -> StrategyResult:
        """The result of the strategy ``multi``, ``single`` or ``random``."""
        return next(s for s in self.strategies if s.key == key)
