"""The demo campaign: three active-learning strategies side by side on one Colmena task server.

Objective: find the molecules with the highest ``oxidation_potential`` at the top level,
``gfn2-adiabatic`` (oxidative stability). The cheap level ``gfn1-vertical`` is known for every
molecule (the multi-fidelity premise); ``gfn2-vertical`` and ``gfn2-adiabatic`` are known for a
small seed set only. The stored values of every other molecule are hidden, and revealed only by
running the xTB simulations again, as tasks, when a strategy picks the molecule.

Each round of a learning strategy trains a bootstrap ensemble on workers (one task per member),
scores the candidates and the held-out molecules on workers (in chunks), picks a batch by an
upper confidence bound (or expected improvement), simulates the batch on workers (one task per
molecule: the whole recipe loop, :func:`~examol_core.simulator.run_recipes`) and folds the
results into its records with :func:`~examol_core.simulator.apply_result`. The random strategy
only simulates. The strategies are steered by one thinker and share the workers, so the
simulations of one overlap with the learning of another, as on a cluster. A molecule picked by
several strategies is simulated once; each strategy folds the same results into its own copy.

Where things run: everything in this module runs in the steering process except
:func:`simulate_task` (on workers, bound by :func:`make_simulation_method`).
"""
from __future__ import annotations

import functools
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from typing import Any

import numpy as np
from colmena.thinker import BaseThinker, agent, result_processor

from examol_core.errors import ExamolError
from examol_core.multifi import collect_outputs
from examol_core.recipes import PropertyRecipe, RedoxEnergy
from examol_core.records import MoleculeRecord, read_records
from examol_core.simulator import RecipeOutcome, Simulator, apply_result, recipe_key, run_recipes

logger = logging.getLogger(__name__)

__all__ = ['DemoSettings', 'DemoData', 'CampaignResult', 'StrategyResult', 'RoundSummary', 'TaskRecord',
           'SimulationCheck', 'CampaignThinker', 'DemoError', 'TOP', 'LOWER', 'CHEAP', 'EXPENSIVE', 'DATASET',
           'load_dataset', 'prepare_data', 'hide_expensive_levels', 'upper_confidence_bound', 'expected_improvement',
           'simulate_task', 'make_simulation_method', 'check_plugins', 'run_campaign']

TOP = RedoxEnergy(1, 'gfn2')
"""The objective: ``oxidation_potential/gfn2-adiabatic`` (eV), to maximise."""
LOWER = (RedoxEnergy(1, 'gfn1', vertical=True), RedoxEnergy(1, 'gfn2', vertical=True))
"""Lower levels of fidelity, lowest first, for multi-fidelity (delta) learning."""
CHEAP = LOWER[0]
"""The level known for every molecule."""
EXPENSIVE = (LOWER[1], TOP)
"""The levels revealed by simulation (a GFN2 run gives both), in the order they are computed."""
LEVELS = (*LOWER, TOP)
DATASET = 'redoxmers-oxidation.jsonl.gz'
"""The data set shipped in ``examol_core/data`` (see its card, ``examol_core/data/README.md``)."""

TOPICS = ('train', 'score', 'simulate')
"""Queue topics: training and inference (learning) and simulation, each with its own result processor."""

# Plugins the demo uses by default, and the package that provides each (only to say what to install)
_PROVIDERS = {'rdkit': 'examol-rdkit (from a source checkout: pip install ./plugins/rdkit_scorer)',
              'nfp': 'examol-nfp (from a source checkout: pip install ./plugins/nfp_scorer)',
              'xtb': 'examol-xtb (from a source checkout: pip install ./plugins/xtb_simulator)'}


class DemoError(ExamolError, RuntimeError):
    """The demo cannot run (missing plugin, bad settings) or a task failed beyond its retries."""


@dataclass
class DemoSettings:
    """Options of the demo campaign (the ``examol demo`` options).

    Attributes:
        rounds: Batches each strategy acquires.
        batch_size: Molecules simulated per batch.
        seed_size: Molecules whose expensive levels are known at the start (the same for every strategy).
        test_size: Held-out molecules for the parity plot and the MAE (never acquired).
        pool_size: Candidates (seed included); ``None`` for every molecule not held out.
        ensemble_size: Members of each bootstrap ensemble.
        chunk_size: Molecules per inference task.
        acquisition: ``ucb`` (mean + beta × std) or ``ei`` (expected improvement).
        beta: Weight of the standard deviation in the upper confidence bound.
        scorer, model: Scorer and model names in the plugin registry.
        model_options: Options of the model factory.
        simulator: Simulator name in the plugin registry (it must offer ``gfn1`` and ``gfn2``).
        workers: Worker processes of the task server.
        random_seed: Seed of the split, the seed set, the random strategy and the bootstrap samples.
        local: Colmena's LocalTaskServer (threads) instead of Parsl, with one worker thread: that
            server sends results from its worker threads without a lock, and concurrent sends
            corrupt pipe queues (``UnpicklingError`` in the thinker).
        parsl_config: A ``parsl.config.Config`` (or a file defining ``config``) instead of local workers.
        retries: Times a failed task is resubmitted before the campaign gives up.
    """

    rounds: int = 10
    batch_size: int = 8
    seed_size: int = 20
    test_size: int = 150
    pool_size: int | None = None
    ensemble_size: int = 8
    chunk_size: int = 250
    acquisition: str = 'ucb'
    beta: float = 1.0
    scorer: str = 'rdkit'
    model: str = 'knn'
    model_options: dict[str, Any] = field(default_factory=dict)
    simulator: str = 'xtb'
    workers: int = 2
    random_seed: int = 0
    local: bool = False
    parsl_config: Any = None
    retries: int = 1

    QUICK = {'rounds': 2, 'batch_size': 4, 'seed_size': 10, 'test_size': 30, 'pool_size': 100, 'ensemble_size': 3,
             'chunk_size': 50}
    """The ``--quick`` preset: a tiny run for tests (about a minute with Parsl start-up)."""

    def check(self) -> None:
        """Raise :class:`DemoError` naming the first option out of range."""
        problems = []
        for name, low in (('rounds', 1), ('batch_size', 1), ('seed_size', 2), ('test_size', 1),
                          ('ensemble_size', 2), ('chunk_size', 1), ('workers', 1), ('retries', 0)):
            if getattr(self, name) < low:
                problems.append(f'{name.replace("_", "-")} must be at least {low} (got {getattr(self, name)})')
        if self.acquisition not in ('ucb', 'ei'):
            problems.append(f'acquisition must be "ucb" or "ei" (got {self.acquisition!r})')
        if self.pool_size is not None and self.pool_size < self.seed_size + self.batch_size:
            problems.append(f'pool-size ({self.pool_size}) must hold the seed set and one batch '
                            f'({self.seed_size} + {self.batch_size})')
        if problems:
            raise DemoError('Invalid demo settings: ' + '; '.join(problems))

    def describe(self) -> dict[str, Any]:
        """The settings as plain JSON-compatible values."""
        out = {k: v for k, v in asdict(self).items() if k != 'parsl_config'}
        out['parsl_config'] = None if self.parsl_config is None else str(self.parsl_config)
        return out


def acquisition_label(settings: DemoSettings, detailed: bool = False) -> str:
    """``UCB`` or ``EI``; with ``detailed``, the formula too."""
    if settings.acquisition == 'ucb':
        return f'UCB (mean + {settings.beta:g} × std)' if detailed else 'UCB'
    return 'EI (expected improvement over the best known)' if detailed else 'EI'


# ---------------------------------------------------------------------------------------------
# Data (steering side)


def load_dataset(path: str | os.PathLike | None = None) -> list[MoleculeRecord]:
    """The records of the shipped data set (or of ``path``)."""
    if path is not None:
        return list(read_records(path))
    with resources.as_file(resources.files('examol_core') / 'data' / DATASET) as file:
        return list(read_records(file))


def hide_expensive_levels(record: MoleculeRecord) -> MoleculeRecord:
    """A copy of a record that knows only the cheap level: GFN2 geometries, energies and properties removed.

    What remains (the MMFF94 start and the GFN1 minimum with its energies) is exactly what a
    campaign that has run only the cheap level would hold, so the xTB run that reveals the
    expensive levels starts from the same geometry as the one that made the data set.
    """
    hidden = {r.config_name for r in EXPENSIVE} - {CHEAP.config_name}
    copy = record.model_copy(deep=True)
    copy.conformers = [c for c in copy.conformers if c.config_name not in hidden]
    for conformer in copy.conformers:
        conformer.energies = [e for e in conformer.energies if e.config_name not in hidden]
    cheap = CHEAP.lookup(record)
    copy.properties = {CHEAP.name: {CHEAP.level: cheap}} if cheap is not None else {}
    return copy


@dataclass
class DemoData:
    """The split of the data set for one campaign.

    Attributes:
        pool: Candidates as the campaign starts: the seed molecules as stored, the others with
            only the cheap level (see :func:`hide_expensive_levels`).
        seed: Positions in ``pool`` of the seed molecules.
        test: Held-out molecules, with only the cheap level.
        truth: InChIKey → ``{level: stored value}`` for every pool and test molecule: to check
            simulations and to score the models, never shown to a strategy.
    """

    pool: list[MoleculeRecord]
    seed: list[int]
    test: list[MoleculeRecord]
    truth: dict[str, dict[str, float]]

    def true_top(self, records: Sequence[MoleculeRecord]) -> np.ndarray:
        return np.array([self.truth[r.key][TOP.level] for r in records])


def prepare_data(records: Sequence[MoleculeRecord], settings: DemoSettings) -> DemoData:
    """Split the data set into held-out molecules and candidates, choose the seed set, hide the rest.

    Only records known at every level take part (996 of the 999).
    """
    complete = [r for r in records if all(level.lookup(r) is not None for level in LEVELS)]
    needed = settings.test_size + (settings.pool_size or settings.seed_size + settings.batch_size)
    if len(complete) < needed:
        raise DemoError(f'The data set has {len(complete)} molecules known at every level; the settings need {needed} '
                        f'(test-size {settings.test_size} + pool-size {settings.pool_size})')
    rng = np.random.default_rng(settings.random_seed)
    order = rng.permutation(len(complete))
    test = [complete[i] for i in order[:settings.test_size]]
    rest = order[settings.test_size:]
    if settings.pool_size is not None:
        rest = rest[:settings.pool_size]
    pool_source = [complete[i] for i in rest]
    seed = sorted(int(i) for i in rng.choice(len(pool_source), settings.seed_size, replace=False))
    seed_set = set(seed)
    truth = {r.key: {level.level: float(level.lookup(r)) for level in LEVELS} for r in [*test, *pool_source]}
    pool = [r.model_copy(deep=True) if i in seed_set else hide_expensive_levels(r) for i, r in enumerate(pool_source)]
    return DemoData(pool=pool, seed=seed, test=[hide_expensive_levels(r) for r in test], truth=truth)


# ---------------------------------------------------------------------------------------------
# Acquisition functions


def upper_confidence_bound(mean: np.ndarray, std: np.ndarray, beta: float = 1.0) -> np.ndarray:
    """``mean + beta * std``: optimism in proportion to the ensemble's disagreement."""
    return np.asarray(mean) + beta * np.asarray(std)


def expected_improvement(mean: np.ndarray, std: np.ndarray, best: float) -> np.ndarray:
    """Expected improvement over ``best`` for a Gaussian with this mean and standard deviation."""
    mean = np.asarray(mean, dtype=float)
    std = np.maximum(np.asarray(std, dtype=float), 1e-9)
    z = (mean - best) / std
    cdf = 0.5 * (1 + np.vectorize(math.erf)(z / math.sqrt(2)))
    pdf = np.exp(-0.5 * z ** 2) / math.sqrt(2 * math.pi)
    return (mean - best) * cdf + std * pdf


def top_indices(values: np.ndarray, count: int) -> list[int]:
    """Positions of the ``count`` largest values, largest first (ties: lowest position first)."""
    return [int(i) for i in np.argsort(-np.asarray(values), kind='stable')[:count]]


# ---------------------------------------------------------------------------------------------
# The simulation task (worker side)


def simulate_task(simulator: Simulator, record: MoleculeRecord, recipes: Sequence[PropertyRecipe],
                  max_rounds: int = 5) -> RecipeOutcome:
    """Run the recipes for one molecule on a worker; return the outcome and the results to fold in.

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


# ---------------------------------------------------------------------------------------------
# Results


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


# ---------------------------------------------------------------------------------------------
# The thinker (steering side)


class _Strategy:
    """The running state of one strategy; changed only under the thinker's lock."""

    def __init__(self, key: str, label: str, learner: str | None, data: DemoData, rng: np.random.Generator):
        self.result = StrategyResult(key=key, label=label, learner=learner)
        self.key = key
        self.learner = learner
        self.records = [r.model_copy(deep=True) for r in data.pool]  # its own copies: strategies never share labels
        self.labelled: list[int] = list(data.seed)
        self.failed: list[int] = []
        self.rng = rng
        self.round = 0  # batches acquired so far
        self.models: Any = None
        self.pending: set[int] = set()
        self.batch: list[int] = []
        self.done = False

    def candidates(self) -> list[int]:
        taken = set(self.labelled) | set(self.failed)
        return [i for i in range(len(self.records)) if i not in taken]

    def best(self) -> tuple[float, str]:
        values = [(TOP.lookup(self.records[i]), self.records[i].identifier.smiles) for i in self.labelled]
        return max((v, s) for v, s in values if v is not None)


class CampaignThinker(BaseThinker):
    """Steers every strategy of the campaign through one task server.

    Agents: ``launch`` starts round 0 of each strategy and waits for all of them to finish; one
    result processor per topic (``train``, ``score``, ``simulate``) folds results in and
    submits the next step of the strategy they belong to, so steps of different strategies
    interleave on the workers. State changes and submissions happen under one lock (Colmena's
    pipe queues are not thread-safe for concurrent senders). An error in an agent is kept in
    :attr:`error` and ends the campaign.

    Args:
        queues: Client side of the task server's queues (topics :data:`TOPICS`).
        client: :class:`~examol_core.colmena.ScorerClient` of the scorer's methods.
        simulate_method: Name of the simulation method on the task server.
        data: The split data set.
        settings: Campaign options.
        make_models: Builds a fresh list of ``ensemble_size`` untrained models.
        progress: Called with ``(event, details)`` for the progress display (steering side).
    """

    def __init__(self, queues: Any, client: Any, simulate_method: str, data: DemoData, settings: DemoSettings,
                 make_models: Callable[[], list[Any]], progress: Callable[[str, dict[str, Any]], None] | None = None):
        super().__init__(queues, daemon=True)
        self.client = client
        self.scorer = client.scorer
        self.simulate_method = simulate_method
        self.data = data
        self.settings = settings
        self.make_models = make_models
        self.progress = progress or (lambda event, details: None)
        self.lock = threading.RLock()
        self.finished = threading.Event()
        self.error: BaseException | None = None
        self.t0 = time.time()
        self.first_result: float | None = None
        rngs = np.random.default_rng(settings.random_seed + 1).spawn(3)
        acq = acquisition_label(settings)
        self.strategies = [
            _Strategy('multi', f'multi-fidelity {acq}', 'multi', data, rngs[0]),
            _Strategy('single', f'single-fidelity {acq}', 'single', data, rngs[1]),
            _Strategy('random', 'random', None, data, rngs[2]),
        ]
        self.on_done: dict[str, Callable[[Any], None]] = {}  # job id → next step of its strategy
        self.job_retries: dict[str, int] = {}
        self.sim_tasks: dict[str, str] = {}  # task id → InChIKey
        self.sim_attempts: dict[str, int] = {}
        self.sim_outcomes: dict[str, RecipeOutcome | str] = {}  # InChIKey → outcome, or why it failed
        self.sim_waiting: dict[str, list[tuple[_Strategy, int]]] = {}
        self.template = {r.key: r for r in data.pool}
        self.tasks: list[TaskRecord] = []
        self.checks: list[SimulationCheck] = []

    # Agents ------------------------------------------------------------------------------

    @agent
    def launch(self) -> None:
        """Start every strategy, then wait until all have finished (this agent's exit ends the thinker)."""
        self._guarded(lambda: [self._start_round(s) for s in self.strategies])
        while not self.finished.wait(0.5):
            if self.done.is_set():
                return

    @result_processor(topic='train')
    def _train_result(self, result: Any) -> None:
        self._guarded(self._job_result, result)

    @result_processor(topic='score')
    def _score_result(self, result: Any) -> None:
        self._guarded(self._job_result, result)

    @result_processor(topic='simulate')
    def _simulate_result(self, result: Any) -> None:
        self._guarded(self._simulation_result, result)

    def _guarded(self, func: Callable[..., Any], *args: Any) -> None:
        with self.lock:
            if self.error is not None:
                return
            try:
                func(*args)
            except BaseException as exc:
                logger.debug('Campaign step failed', exc_info=True)
                self.error = exc
                self.finished.set()

    # Bookkeeping -------------------------------------------------------------------------

    def _record_task(self, topic: str, result: Any) -> None:
        now = time.time()
        if self.first_result is None:
            self.first_result = now - self.t0
        info = result.task_info or {}
        stamps = result.timestamp
        started = stamps.compute_started if math.isfinite(stamps.compute_started) else now
        ended = stamps.compute_ended if math.isfinite(stamps.compute_ended) else now
        running = result.time.running if math.isfinite(result.time.running) else ended - started
        self.tasks.append(TaskRecord(topic=topic, strategy=info.get('strategy'), round=info.get('round'),
                                     success=bool(result.success), started=started - self.t0,
                                     ended=ended - self.t0, running=float(running)))
        self.progress('task', {'topic': topic})

    def _track(self, job: Any, on_done: Callable[[Any], None]) -> None:
        """Call ``on_done(job)`` once every task of the job has succeeded (failed ones are resubmitted)."""
        self.on_done[job.job_id] = on_done
        self.job_retries[job.job_id] = 0
        if job.done:  # an empty job
            self._finish_job(job)

    def _job_result(self, result: Any) -> None:
        self._record_task(result.topic or '?', result)
        job = self.client.add_result(result)
        if job.done:
            self._finish_job(job)

    def _finish_job(self, job: Any) -> None:
        if job.failures:
            if self.job_retries[job.job_id] < self.settings.retries:
                self.job_retries[job.job_id] += 1
                logger.warning('Resubmitting %d failed %s task(s)', len(job.failures), job.kind)
                job.resubmit()
                return
            details = '; '.join(str(f) for f in job.failures.values())
            job.close()
            raise DemoError(f'{len(job.failures)} {job.kind} task(s) failed after {self.settings.retries} '
                            f'retries: {details}')
        on_done = self.on_done.pop(job.job_id)
        self.job_retries.pop(job.job_id, None)
        on_done(job)

    # Strategy steps ----------------------------------------------------------------------

    def _info(self, strategy: _Strategy) -> dict[str, Any]:
        return {'strategy': strategy.key, 'round': strategy.round}

    def _start_round(self, strategy: _Strategy) -> None:
        if not strategy.result.history:  # round 0: the seed set
            best, smiles = strategy.best()
            strategy.result.history.append(RoundSummary(
                round=0, acquired=[], values=[], labelled=len(strategy.labelled), best=best, best_smiles=smiles,
                elapsed=time.time() - self.t0))
            self.progress('round', {'strategy': strategy.key, 'round': 0, 'best': best})
        if strategy.learner is None:
            if strategy.round >= self.settings.rounds:
                self._finish(strategy)
                return
            candidates = strategy.candidates()
            count = min(self.settings.batch_size, len(candidates))
            chosen = strategy.rng.choice(len(candidates), count, replace=False) if count else []
            self._acquire(strategy, [candidates[int(i)] for i in chosen])
        else:
            self._submit_training(strategy)

    def _submit_training(self, strategy: _Strategy) -> None:
        records = strategy.records if strategy.learner == 'multi' else [strategy.records[i] for i in strategy.labelled]
        inputs = self.scorer.transform_inputs(records)
        outputs = self.scorer.transform_outputs(records, TOP)
        lower = collect_outputs(records, LOWER) if strategy.learner == 'multi' else None
        models = self.make_models()
        seed = self.settings.random_seed * 100_000 + strategy.round * 100 + (0 if strategy.learner == 'multi' else 50)
        job = self.client.submit_retrain(models, inputs, outputs, lower_fidelities=lower, seed=seed,
                                         task_info=self._info(strategy))
        self._track(job, lambda done: self._trained(strategy, done, models))

    def _trained(self, strategy: _Strategy, job: Any, models: list[Any]) -> None:
        strategy.models = job.update(models)
        last = strategy.round >= self.settings.rounds
        candidates = [] if last else strategy.candidates()
        records = [strategy.records[i] for i in candidates] + self.data.test
        inputs = self.scorer.transform_inputs(records)
        lower = collect_outputs(records, LOWER) if strategy.learner == 'multi' else None
        job = self.client.submit_score(strategy.models, inputs, lower_fidelities=lower,
                                       chunk_size=self.settings.chunk_size, task_info=self._info(strategy))
        self._track(job, lambda done: self._scored(strategy, done, candidates))

    def _scored(self, strategy: _Strategy, job: Any, candidates: list[int]) -> None:
        scores = job.collect()
        n = len(candidates)
        test_mean, test_std = scores.mean[n:], scores.std[n:]
        true = self.data.true_top(self.data.test)
        strategy.result.history[-1].mae = float(np.mean(np.abs(test_mean - true)))
        strategy.result.test_mean = [float(x) for x in test_mean]
        strategy.result.test_std = [float(x) for x in test_std]
        self.progress('mae', {'strategy': strategy.key, 'mae': strategy.result.history[-1].mae})
        if strategy.round >= self.settings.rounds or not candidates:
            self._finish(strategy)
            return
        mean, std = scores.mean[:n], scores.std[:n]
        if self.settings.acquisition == 'ucb':
            utility = upper_confidence_bound(mean, std, self.settings.beta)
        else:
            utility = expected_improvement(mean, std, strategy.best()[0])
        self._acquire(strategy, [candidates[i] for i in top_indices(utility, self.settings.batch_size)])

    def _acquire(self, strategy: _Strategy, chosen: list[int]) -> None:
        """Ask for the simulations of a batch: cached, already running for another strategy, or new tasks."""
        strategy.batch = list(chosen)
        strategy.pending = set(chosen)
        if not chosen:
            self._finish(strategy)
            return
        for index in chosen:
            key = strategy.records[index].key
            if key in self.sim_outcomes:
                self._fold(strategy, index, self.sim_outcomes[key])
            elif key in self.sim_waiting:
                self.sim_waiting[key].append((strategy, index))
            else:
                self.sim_waiting[key] = [(strategy, index)]
                self._submit_simulation(key)

    def _submit_simulation(self, key: str) -> None:
        waiting = self.sim_waiting[key]
        task_id = self.queues.send_inputs(self.template[key], method=self.simulate_method, topic='simulate',
                                          task_info={'examol_key': key, 'strategy': waiting[0][0].key,
                                                     'round': waiting[0][0].round + 1})
        self.sim_tasks[task_id] = key
        self.sim_attempts[key] = self.sim_attempts.get(key, 0) + 1
        self.progress('simulation submitted', {'smiles': self.template[key].identifier.smiles})

    def _simulation_result(self, result: Any) -> None:
        self._record_task('simulate', result)
        key = self.sim_tasks.pop(result.task_id, None)
        if key is None:
            raise DemoError(f'Result of simulation task {result.task_id} that this campaign did not submit')
        smiles = self.template[key].identifier.smiles
        if not result.success:
            reason = result.failure_info.exception if result.failure_info else 'unknown error'
            if self.sim_attempts[key] <= self.settings.retries:
                logger.warning('Simulation task for %s failed (%s); resubmitting', smiles, reason)
                self._submit_simulation(key)
                return
            outcome: RecipeOutcome | str = f'{smiles}: the task failed: {reason}'
        else:
            outcome = result.value
            if not isinstance(outcome, RecipeOutcome):
                from proxystore.proxy import Proxy, extract

                outcome = extract(outcome) if isinstance(outcome, Proxy) else outcome
            if outcome.success:
                stored = self.truth_of(key)
                computed = {level: outcome.values[recipe_key(r)] for r, level in ((r, r.level) for r in EXPENSIVE)}
                self.checks.append(SimulationCheck(smiles=smiles, computed=computed,
                                                   stored={k: stored[k] for k in computed}, runtime=outcome.runtime))
            else:
                outcome = '; '.join(outcome.failures.values())
        self.sim_outcomes[key] = outcome
        self.progress('simulation done', {'smiles': smiles})
        for strategy, index in self.sim_waiting.pop(key, []):
            self._fold(strategy, index, outcome)

    def truth_of(self, key: str) -> dict[str, float]:
        return self.data.truth[key]

    def _fold(self, strategy: _Strategy, index: int, outcome: RecipeOutcome | str) -> None:
        """Apply a molecule's simulation results to the strategy's own record; end the round when the batch is in."""
        record = strategy.records[index]
        if isinstance(outcome, str):
            strategy.failed.append(index)
            strategy.result.failed.append(record.identifier.smiles)
        else:
            for result in outcome.results:
                apply_result(record, result)
            for recipe in EXPENSIVE:
                recipe.update_record(record)
            strategy.labelled.append(index)
        strategy.pending.discard(index)
        if not strategy.pending:
            self._end_round(strategy)

    def _end_round(self, strategy: _Strategy) -> None:
        strategy.round += 1
        best, smiles = strategy.best()
        batch = [strategy.records[i] for i in strategy.batch]
        strategy.result.history.append(RoundSummary(
            round=strategy.round, acquired=[r.identifier.smiles for r in batch], values=[TOP.lookup(r) for r in batch],
            labelled=len(strategy.labelled), best=best, best_smiles=smiles, elapsed=time.time() - self.t0))
        self.progress('round', {'strategy': strategy.key, 'round': strategy.round, 'best': best})
        self._start_round(strategy)

    def _finish(self, strategy: _Strategy) -> None:
        strategy.done = True
        strategy.result.finished = time.time() - self.t0
        self.progress('finished', {'strategy': strategy.key})
        if all(s.done for s in self.strategies):
            self.finished.set()


# ---------------------------------------------------------------------------------------------
# Running it


def check_plugins(settings: DemoSettings) -> None:
    """Fail early, naming the package to install, if the scorer, its model or the simulator is missing."""
    from examol_core.plugins import available_scorers, available_simulators, plugin_errors

    def missing(kind: str, name: str, known: dict[str, Any]) -> DemoError:
        provider = _PROVIDERS.get(name, f'a package providing the {kind} {name!r}')
        message = (f'The demo needs the {kind} plugin {name!r}, which is not installed '
                   f'(installed {kind}s: {", ".join(sorted(known)) or "none"}). Install {provider}.')
        errors = [str(e) for e in plugin_errors()]
        if errors:
            message += ' Plugins that failed to load: ' + '; '.join(errors)
        return DemoError(message)

    scorers = available_scorers()
    if settings.scorer not in scorers:
        raise missing('scorer', settings.scorer, scorers)
    if settings.model not in scorers[settings.scorer].models:
        raise DemoError(f'Scorer {settings.scorer!r} has no model {settings.model!r}; it provides: '
                        f'{", ".join(sorted(scorers[settings.scorer].models))}')
    simulators = available_simulators()
    if settings.simulator not in simulators:
        raise missing('simulator', settings.simulator, simulators)
    offered = simulators[settings.simulator].config_names
    needed = {r.config_name for r in LEVELS}
    if offered and not needed <= set(offered):
        raise DemoError(f'Simulator {settings.simulator!r} offers {", ".join(offered)}; the demo needs '
                        f'{", ".join(sorted(needed))}')


def _versions(settings: DemoSettings) -> dict[str, str]:
    from importlib import metadata

    from examol_core.plugins import available_scorers, available_simulators

    out = {'examol-core': metadata.version('examol-core')}
    scorer = available_scorers()[settings.scorer]
    simulator = available_simulators()[settings.simulator]
    out[scorer.distribution] = scorer.version
    out[simulator.distribution] = simulator.version
    for name in ('colmena', 'parsl', 'rdkit', 'tblite'):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def run_campaign(settings: DemoSettings, console: Any = None, records: Sequence[MoleculeRecord] | None = None
                 ) -> CampaignResult:
    """Run the three strategies on a task server and return what happened (steering side).

    Args:
        settings: Campaign options.
        console: A ``rich.console.Console`` to show progress on; ``None`` for none.
        records: The data set (default: the shipped one).
    Raises:
        DemoError: a missing plugin, bad settings, or tasks that failed beyond their retries.
        TaskServerDied: the task server exited during the campaign.
    """
    from examol_core.colmena import ScorerClient, make_methods, start_task_server
    from examol_core.plugins import load_scorer, load_simulator, make_model

    t_start = time.perf_counter()
    settings.check()
    check_plugins(settings)
    scorer = load_scorer(settings.scorer)
    simulator = load_simulator(settings.simulator)
    try:
        make_model(settings.scorer, settings.model, **settings.model_options)
    except TypeError as exc:
        raise DemoError(f'Model {settings.scorer}/{settings.model} does not accept the options '
                        f'{settings.model_options}: {exc}') from None
    data = prepare_data(records if records is not None else load_dataset(), settings)
    t_data = time.perf_counter() - t_start

    methods = make_methods(scorer, settings.scorer)
    simulate = make_simulation_method(simulator, settings.simulator)
    # One OpenMP thread per worker: xTB timings are erratic when threads compete for the cores
    os.environ.setdefault('OMP_NUM_THREADS', '1')

    def make_models() -> list[Any]:
        return [make_model(settings.scorer, settings.model, **settings.model_options)
                for _ in range(settings.ensemble_size)]

    display = _ProgressDisplay(console, settings) if console is not None else None
    workers = 1 if settings.local else settings.workers
    server_options: dict[str, Any] = {'workers': workers, 'local': settings.local, 'topics': TOPICS}
    if settings.parsl_config is not None:
        server_options['parsl_config'] = settings.parsl_config
    with display if display is not None else _nothing():
        if display is not None:
            display.status('starting the task server')
        t_server = time.perf_counter()
        with start_task_server([*methods, simulate], **server_options) as server:
            client = ScorerClient(server.queues, scorer, methods, retrain_topic='train', score_topic='score')
            thinker = CampaignThinker(server.queues, client, simulate.__name__, data, settings, make_models,
                                      progress=display.event if display is not None else None)
            if display is not None:
                display.status('running (the first tasks wait for the workers to start)')
            t_campaign = time.perf_counter()
            thinker.start()
            stopped_at = None
            try:
                while thinker.is_alive():
                    thinker.join(timeout=1)
                    if thinker.error is not None:
                        break
                    server.check_alive()
                    if thinker.done.is_set() and not thinker.finished.is_set():
                        # An agent died outside the campaign's own error handling (Colmena logged it)
                        stopped_at = stopped_at or time.monotonic()
                        if time.monotonic() - stopped_at > 5:
                            raise DemoError('The thinker stopped before the campaign finished: one of its agents '
                                            'failed (its traceback is logged above)')
            except BaseException:
                thinker.done.set()
                raise
            t_end = time.perf_counter()
            if thinker.error is not None:
                thinker.done.set()
                error = thinker.error
                if isinstance(error, ExamolError):
                    raise error
                raise DemoError(f'The campaign failed: {type(error).__name__}: {error}') from error
            if display is not None:
                display.status('stopping the task server')
    startup = (thinker.first_result or 0.) + (t_campaign - t_server)
    first_task = min((t.started for t in thinker.tasks), default=0.)
    result = CampaignResult(
        settings=settings,
        strategies=[s.result for s in thinker.strategies],
        test_smiles=[r.identifier.smiles for r in data.test],
        test_true=[float(x) for x in data.true_top(data.test)],
        test_cheap=[float(CHEAP.lookup(r)) for r in data.test],
        pool_top=[float(x) for x in data.true_top(data.pool)],
        pool_smiles=[r.identifier.smiles for r in data.pool],
        seed_smiles=[data.pool[i].identifier.smiles for i in data.seed],
        tasks=thinker.tasks,
        checks=thinker.checks,
        simulation_failures={s: o for k, o in thinker.sim_outcomes.items() if isinstance(o, str)
                             for s in [thinker.template[k].identifier.smiles]},
        timings={'data': t_data, 'server_start': t_campaign - t_server,
                 'first_task_started': first_task + (t_campaign - t_server), 'startup': startup,
                 'campaign': t_end - t_campaign, 'total': time.perf_counter() - t_start},
        baseline_offset=float(np.mean([data.truth[k][TOP.level] - data.truth[k][CHEAP.level]
                                       for k in (data.pool[i].key for i in data.seed)])),
        versions=_versions(settings),
    )
    return result


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


class _ProgressDisplay:
    """A rich progress display: one bar per strategy (rounds, best found), one for simulations, task counts."""

    def __init__(self, console: Any, settings: DemoSettings):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.settings = settings
        self.progress = Progress(TextColumn('{task.description:<34}'), BarColumn(bar_width=24), MofNCompleteColumn(),
                                 TextColumn('{task.fields[status]}'), TimeElapsedColumn(), console=console,
                                 transient=False, refresh_per_second=4)
        acq = acquisition_label(settings)
        self.bars = {
            'multi': self.progress.add_task(f'multi-fidelity {acq}', total=settings.rounds, status=''),
            'single': self.progress.add_task(f'single-fidelity {acq}', total=settings.rounds, status=''),
            'random': self.progress.add_task('random', total=settings.rounds, status=''),
        }
        self.sims = self.progress.add_task('xTB simulations (unique molecules)', total=0, status='')
        self.tasks = self.progress.add_task('tasks done', total=None, status='')
        self.counts = {'train': 0, 'score': 0, 'simulate': 0}
        self.best: dict[str, float] = {}
        self.mae: dict[str, float] = {}

    def __enter__(self) -> _ProgressDisplay:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def status(self, text: str) -> None:
        self.progress.update(self.tasks, status=text)

    def _strategy_status(self, key: str) -> str:
        parts = []
        if key in self.best:
            parts.append(f'best {self.best[key]:.3f} eV')
        if key in self.mae:
            parts.append(f'MAE {self.mae[key]:.3f} eV')
        return ', '.join(parts)

    def event(self, kind: str, details: dict[str, Any]) -> None:
        if kind == 'round':
            key = details['strategy']
            self.best[key] = details['best']
            self.progress.update(self.bars[key], completed=details['round'], status=self._strategy_status(key))
        elif kind == 'mae':
            key = details['strategy']
            self.mae[key] = details['mae']
            self.progress.update(self.bars[key], status=self._strategy_status(key))
        elif kind == 'finished':
            self.progress.update(self.bars[details['strategy']], status=self._strategy_status(details['strategy'])
                                 + ' [green]done[/]')
        elif kind == 'simulation submitted':
            total = self.progress.tasks[self.sims].total or 0
            self.progress.update(self.sims, total=total + 1)
        elif kind == 'simulation done':
            self.progress.advance(self.sims)
            self.progress.update(self.sims, status=details['smiles'])
        elif kind == 'task':
            self.counts[details['topic']] = self.counts.get(details['topic'], 0) + 1
            self.progress.update(self.tasks, advance=1, status=f'train {self.counts["train"]}, score '
                                 f'{self.counts["score"]}, simulate {self.counts["simulate"]}')
