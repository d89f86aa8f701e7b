"""What a campaign did, as ``results.json`` (pydantic): enough to redraw the report without running again.

``result.model_dump_json()`` writes it; ``CampaignResult.model_validate_json(text)`` reads it back.
"""
from __future__ import annotations

import math
import time
from typing import Any

from pydantic import BaseModel, computed_field

from examol_demo.settings import DemoSettings

__all__ = ['RoundSummary', 'StrategyResult', 'TaskRecord', 'SimulationCheck', 'CampaignResult']


class RoundSummary(BaseModel):
    """A strategy after a round (round 0: the seed set): the SMILES simulated and their top-level values
    (``None`` if it failed), how many molecules it knows, its best, and the held-out MAE of the ensemble
    trained on what it knows then (the one that picks the next batch)."""

    round: int
    acquired: list[str]
    values: list[float | None]
    labelled: int
    best: float
    best_smiles: str
    mae: float | None = None
    elapsed: float = 0.


class StrategyResult(BaseModel):
    """What one strategy did; ``test_mean``/``test_std``: its last ensemble's held-out predictions."""

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

    @classmethod
    def from_result(cls, result: Any, t0: float) -> TaskRecord:
        """Read a Colmena ``Result`` (its missing timestamps: now)."""
        now, info, stamps = time.time(), result.task_info or {}, result.timestamp
        started = stamps.compute_started if math.isfinite(stamps.compute_started) else now
        ended = stamps.compute_ended if math.isfinite(stamps.compute_ended) else now
        running = result.time.running if math.isfinite(result.time.running) else ended - started
        return cls(topic=result.topic, strategy=info.get('strategy'), round=info.get('round'),
                   success=bool(result.success), started=started - t0, ended=ended - t0, running=float(running))


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

    ``pool_top`` holds every candidate's hidden top-level value (for ranks); ``baseline_offset`` is the
    mean of top − cheap level over the seed set (cheap + offset: the simplest multi-fidelity estimate);
    ``timings`` are seconds: ``data``, ``server_start``, ``first_task_started`` (from the server's
    start), ``campaign`` (thinker started to last result), ``total``.
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
