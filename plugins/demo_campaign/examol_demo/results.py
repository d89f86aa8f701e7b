"""What a campaign did: per-round summaries, tasks, simulation checks, and their JSON form (``results.json``)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from examol_core.simulator import recipe_key

from examol_demo.settings import LOWER, TOP, DemoSettings

__all__ = ['RoundSummary', 'StrategyResult', 'TaskRecord', 'SimulationCheck', 'CampaignResult']


@dataclass
class RoundSummary:
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


@dataclass
class StrategyResult:
    """What one strategy did.

    Attributes:
        test_mean, test_std: Final ensemble predictions for the held-out molecules (learning strategies).
    """

    key: str
    label: str
    learner: str | None
    history: list[RoundSummary] = field(default_factory=list)
    test_mean: list[float] | None = None
    test_std: list[float] | None = None
    failed: list[str] = field(default_factory=list)
    finished: float = 0.

    @property
    def final_mae(self) -> float | None:
        return self.history[-1].mae if self.history else None


@dataclass
class TaskRecord:
    """One task as the thinker saw it come back (times in seconds from the start of the campaign)."""

    topic: str
    strategy: str | None
    round: int | None
    success: bool
    started: float
    ended: float
    running: float


@dataclass
class SimulationCheck:
    """A simulated molecule compared with the stored data set."""

    smiles: str
    computed: dict[str, float]
    stored: dict[str, float]
    runtime: float

    @property
    def max_abs_diff(self) -> float:
        return max(abs(self.computed[k] - self.stored[k]) for k in self.computed)


@dataclass
class CampaignResult:
    """Everything the report needs.

    Attributes:
        pool_top: Top-level values of every candidate (hidden ones included), for ranks.
        baseline_offset: Mean of top level − cheap level over the seed set: the cheap level plus
            this offset is the simplest multi-fidelity estimate, a reference for the MAE.
        timings: ``data``, ``startup`` (task server started until the first result),
            ``campaign`` (first submission to last result), ``total`` (seconds).
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
    versions: dict[str, str] = field(default_factory=dict)

    def strategy(self, key: str) -> StrategyResult:
        return next(s for s in self.strategies if s.key == key)

    @classmethod
    def from_json(cls, content: dict[str, Any]) -> CampaignResult:
        """Rebuild a result from :meth:`to_json` output (to redraw a report without rerunning)."""
        settings = DemoSettings(**{k: v for k, v in content['settings'].items() if k != 'parsl_config'})
        strategies = []
        for item in content['strategies']:
            item = {k: v for k, v in item.items() if k != 'final_mae'}
            item['history'] = [RoundSummary(**h) for h in item['history']]
            strategies.append(StrategyResult(**item))
        return cls(
            settings=settings, strategies=strategies, test_smiles=content['test']['smiles'],
            test_true=content['test']['true'], test_cheap=content['test']['cheap'], pool_top=content['pool']['top'],
            pool_smiles=content['pool']['smiles'], seed_smiles=content['pool']['seed'],
            tasks=[TaskRecord(**t) for t in content['tasks']],
            checks=[SimulationCheck(**{k: v for k, v in c.items() if k != 'max_abs_diff'})
                    for c in content['simulation_checks']],
            simulation_failures=content['simulation_failures'], timings=content['timings'],
            baseline_offset=content['baseline_offset'], versions=content['versions'])

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-compatible content (``results.json``)."""
        return {
            'settings': self.settings.describe(),
            'objective': recipe_key(TOP), 'lower_levels': [recipe_key(r) for r in LOWER],
            'strategies': [{**asdict(s), 'final_mae': s.final_mae} for s in self.strategies],
            'test': {'smiles': self.test_smiles, 'true': self.test_true, 'cheap': self.test_cheap},
            'pool': {'smiles': self.pool_smiles, 'top': self.pool_top, 'seed': self.seed_smiles},
            'tasks': [asdict(t) for t in self.tasks],
            'simulation_checks': [{**asdict(c), 'max_abs_diff': c.max_abs_diff} for c in self.checks],
            'simulation_failures': self.simulation_failures,
            'baseline_offset': self.baseline_offset,
            'timings': self.timings,
            'versions': self.versions,
        }
