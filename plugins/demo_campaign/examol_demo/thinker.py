"""The thinker: one agent per strategy, each a plain loop, and result processors that only route results.

A learning strategy's agent loops: train a bootstrap ensemble (one task per member), wait; score the
candidates and the held-out molecules (one task per chunk), wait; pick a batch, simulate it (one task
per molecule), wait. The strategies share the workers, so the simulations of one overlap with the
learning of another.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import wait as wait_futures
from typing import Any

import numpy as np
from colmena.thinker import BaseThinker, agent, result_processor
from examol_core.multifi import collect_outputs
from examol_core.simulator import apply_result

from examol_demo.acquisition import pick
from examol_demo.results import RoundSummary, StrategyResult, TaskRecord
from examol_demo.settings import EXPENSIVE, LOWER, TOP, DemoData, DemoError, DemoSettings
from examol_demo.simulation import Outcome, Simulations

logger = logging.getLogger(__name__)

__all__ = ['CampaignThinker', 'Strategy', 'TOPICS']

TOPICS = ('train', 'score', 'simulate')  # each with its own result processor


class Strategy:
    """One strategy's own copies of the candidates and what it knows, changed only by its agent;
    ``learner``: ``multi`` or ``single`` fidelity, ``None`` for random picks."""

    def __init__(self, key: str, label: str, learner: str | None, data: DemoData, rng: np.random.Generator):
        self.key, self.learner, self.rng = key, learner, rng
        self.result = StrategyResult(key=key, label=label, learner=learner)
        self.records = [r.model_copy(deep=True) for r in data.pool]
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

    def best(self) -> tuple[float, str]:
        """Best top-level value known and its molecule's SMILES."""
        known = ((TOP.lookup(self.records[i]), self.records[i].identifier.smiles) for i in self.labelled)
        return max((value, smiles) for value, smiles in known if value is not None)

    def fold(self, batch: Sequence[int], outcomes: Sequence[Outcome], started: float) -> None:
        """Apply a batch's outcomes (a string: why its simulation failed) and close the round."""
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
        best, smiles = self.best()
        self.result.history.append(RoundSummary(
            round=len(self.result.history), acquired=[self.records[i].identifier.smiles for i in batch],
            values=[TOP.lookup(self.records[i]) for i in batch], labelled=len(self.labelled), best=best,
            best_smiles=smiles, elapsed=time.time() - started))


class _Stopped(Exception):
    """The thinker is stopping (another agent failed): leave the loop quietly."""


class CampaignThinker(BaseThinker):
    """Runs the three strategies side by side on one task server.

    ``client`` is a routed :class:`~examol_core.colmena.ScorerClient`; ``make_models`` builds a fresh,
    untrained ensemble; ``progress`` gets ``('strategy', StrategyResult)``, ``('task', topic)`` and
    ``('simulations', molecules asked for)``. An error in any agent is kept in :attr:`error` and stops the others.
    """

    def __init__(self, queues: Any, client: Any, simulations: Simulations, data: DemoData, settings: DemoSettings,
                 make_models: Callable[[], list[Any]], progress: Callable[[str, Any], None] | None = None):
        super().__init__(queues, daemon=True)
        self.client, self.simulations, self.data, self.settings = client, simulations, data, settings
        self.make_models = make_models
        self.progress = progress or (lambda kind, value: None)
        self.error: BaseException | None = None
        self.tasks: list[TaskRecord] = []
        self.t0 = time.time()
        rngs = np.random.default_rng(settings.random_seed + 1).spawn(3)
        acq = settings.acquisition.upper()
        self.strategies = [Strategy('multi', f'multi-fidelity {acq}', 'multi', data, rngs[0]),
                           Strategy('single', f'single-fidelity {acq}', 'single', data, rngs[1]),
                           Strategy('random', 'random', None, data, rngs[2])]
        self._running = len(self.strategies)
        self._lock = threading.Lock()

    @agent(startup=True)  # its end alone does not stop the thinker; the last strategy to finish does
    def multi_fidelity(self) -> None:
        self._run(self.strategies[0], self.learn)

    @agent(startup=True)
    def single_fidelity(self) -> None:
        self._run(self.strategies[1], self.learn)

    @agent(startup=True)
    def random_picks(self) -> None:
        self._run(self.strategies[2], self.pick_randomly)

    def learn(self, strategy: Strategy) -> None:
        """Each round: train, wait; score, wait; pick, simulate, wait. Then train and score once more."""
        client, settings, test = self.client, self.settings, self.data.test
        multi = strategy.learner == 'multi'
        self._fold(strategy, [], [])  # round 0: the seed set
        for round_ in range(settings.rounds + 1):
            # multi-fidelity: every candidate, each level from those that know it; single: the labelled ones
            known = strategy.records if multi else [strategy.records[i] for i in strategy.labelled]
            models = self.make_models()
            job = client.submit_retrain(
                models, client.scorer.transform_inputs(known), client.scorer.transform_outputs(known, TOP),
                lower_fidelities=collect_outputs(known, LOWER) if multi else None,
                seed=settings.random_seed * 100_000 + round_ * 100 + (0 if multi else 50),
                task_info=self._info(strategy), retries=settings.retries, **settings.train_options)
            models = self.wait(job).update(models)

            candidates = strategy.candidates() if round_ < settings.rounds else []
            records = [strategy.records[i] for i in candidates] + test
            job = client.submit_score(models, client.scorer.transform_inputs(records),
                                      lower_fidelities=collect_outputs(records, LOWER) if multi else None,
                                      chunk_size=settings.chunk_size, task_info=self._info(strategy),
                                      retries=settings.retries)
            scores, n = self.wait(job).collect(), len(candidates)
            mean, std = scores.mean[n:], scores.std[n:]
            strategy.result.history[-1].mae = float(np.mean(np.abs(mean - self.data.true_top(test))))
            strategy.result.test_mean, strategy.result.test_std = [float(x) for x in mean], [float(x) for x in std]
            self.progress('strategy', strategy.result)
            if not candidates:
                return

            chosen = pick(settings.acquisition, scores.mean[:n], scores.std[:n], settings.batch_size,
                          beta=settings.beta, best=strategy.best()[0])
            self.simulate(strategy, [candidates[i] for i in chosen])

    def pick_randomly(self, strategy: Strategy) -> None:
        """Each round: pick a batch uniformly among the molecules not simulated yet, simulate it, wait."""
        self._fold(strategy, [], [])
        for _ in range(self.settings.rounds):
            candidates = strategy.candidates()
            if not candidates:
                return
            chosen = strategy.rng.choice(len(candidates), min(self.settings.batch_size, len(candidates)),
                                         replace=False)
            self.simulate(strategy, [candidates[int(i)] for i in chosen])

    def simulate(self, strategy: Strategy, batch: list[int]) -> None:
        """Simulate a batch, wait, fold the outcomes into the strategy's records (one task per new molecule)."""
        futures = self.simulations.request([strategy.records[i] for i in batch],
                                           {**self._info(strategy), 'round': strategy.round + 1})
        self.progress('simulations', self.simulations.submitted)
        while wait_futures(futures, timeout=0.5).not_done:
            self._check_running()
        self._fold(strategy, batch, [f.result() for f in futures])

    def wait(self, job: Any) -> Any:
        """The job once every task is back (failed tasks are resubmitted ``retries`` times by the job)."""
        if not job.wait(check_alive=self._check_running):
            job.close()
            raise DemoError(f'{len(job.failures)} {job.kind} task(s) failed after {self.settings.retries} '
                            f'retries: {"; ".join(str(f) for f in job.failures.values())}')
        return job

    def _fold(self, strategy: Strategy, batch: list[int], outcomes: list[Outcome]) -> None:
        strategy.fold(batch, outcomes, self.t0)
        self.progress('strategy', strategy.result)

    def _check_running(self) -> None:
        if self.done.is_set():
            raise _Stopped()

    def _info(self, strategy: Strategy) -> dict[str, Any]:
        return {'strategy': strategy.key, 'round': strategy.round}

    def _run(self, strategy: Strategy, loop: Callable[[Strategy], None]) -> None:
        try:
            loop(strategy)
        except _Stopped:
            pass
        except BaseException as exc:
            self._fail(exc)
        finally:
            strategy.result.finished = time.time() - self.t0
            self.progress('strategy', strategy.result)
            with self._lock:
                self._running -= 1
                if self._running == 0:
                    self.done.set()

    def _fail(self, exc: BaseException) -> None:
        logger.debug('Campaign failed', exc_info=exc)
        with self._lock:
            self.error = self.error or exc
        self.done.set()

    # Result processors: route each result to what waits for it
    @result_processor(topic='train')
    def train_result(self, result: Any) -> None:
        self._route(result, self.client.add_result)

    @result_processor(topic='score')
    def score_result(self, result: Any) -> None:
        self._route(result, self.client.add_result)

    @result_processor(topic='simulate')
    def simulation_result(self, result: Any) -> None:
        self._route(result, self.simulations.add_result)

    def _route(self, result: Any, add: Callable[[Any], Any]) -> None:
        self.tasks.append(TaskRecord.from_result(result, self.t0))
        self.progress('task', result.topic)
        try:
            add(result)
        except Exception as exc:  # a result nobody asked for, or one that cannot be read: stop the campaign
            self._fail(exc)
