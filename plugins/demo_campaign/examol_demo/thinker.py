"""The thinker: one agent per strategy, each a plain loop, and result processors that only route results.

A learning strategy's agent loops: train an ensemble, wait; score, wait; pick a batch, simulate it,
wait. Result processors give each result to the job or simulation that waits for it. The strategies
share the workers, so the simulations of one overlap with the learning of another.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import wait as wait_futures
from typing import Any

import numpy as np
from colmena.thinker import BaseThinker, agent, result_processor
from examol_core.multifi import collect_outputs

from examol_demo.acquisition import pick
from examol_demo.data import DemoData
from examol_demo.results import TaskRecord
from examol_demo.settings import LOWER, TOP, DemoError, DemoSettings, acquisition_label
from examol_demo.simulation import Outcome, Simulations
from examol_demo.strategy import Strategy

logger = logging.getLogger(__name__)

__all__ = ['CampaignThinker', 'SerialSends', 'TOPICS']

TOPICS = ('train', 'score', 'simulate')
"""Queue topics: training and inference (learning) and simulation, each with its own result processor."""


class SerialSends:
    """The client side of a task server's queues that sends one task at a time.

    Several agents submit at once (and jobs resubmit from result processors), but Colmena's pipe
    queues write a large task in several pieces: concurrent senders would interleave them.
    """

    def __init__(self, queues: Any):
        self._queues = queues
        self._lock = threading.Lock()

    def send_inputs(self, *args: Any, **kwargs: Any) -> str:
        """``queues.send_inputs``, once no other thread is sending."""
        with self._lock:
            return self._queues.send_inputs(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._queues, name)


class _Stopped(Exception):
    """The thinker is stopping (another agent failed): leave the loop quietly."""


class CampaignThinker(BaseThinker):
    """Runs the three strategies of the campaign side by side on one task server (steering side).

    An error in any agent is kept in :attr:`error` and stops the others.

    Args:
        queues: Client side of the task server's queues (topics :data:`TOPICS`), in :class:`SerialSends`.
        client: :class:`~examol_core.colmena.ScorerClient` of the scorer's methods.
        simulations: Submits simulations and completes their futures.
        data: The split data set.
        settings: Campaign options.
        make_models: Builds a fresh list of ``ensemble_size`` untrained models.
        progress: Called with ``(event, details)`` for the progress display.
    """

    def __init__(self, queues: Any, client: Any, simulations: Simulations, data: DemoData, settings: DemoSettings,
                 make_models: Callable[[], list[Any]], progress: Callable[[str, dict[str, Any]], None] | None = None):
        super().__init__(queues, daemon=True)
        self.client = client
        self.simulations = simulations
        self.data = data
        self.settings = settings
        self.make_models = make_models
        self.progress = progress or (lambda event, details: None)
        self.error: BaseException | None = None
        self.tasks: list[TaskRecord] = []
        self.t0 = time.time()
        rngs = np.random.default_rng(settings.random_seed + 1).spawn(3)
        acq = acquisition_label(settings)
        self.strategies = [Strategy('multi', f'multi-fidelity {acq}', 'multi', data, rngs[0]),
                           Strategy('single', f'single-fidelity {acq}', 'single', data, rngs[1]),
                           Strategy('random', 'random', None, data, rngs[2])]
        self._running = len(self.strategies)
        self._lock = threading.Lock()

    # Agents: one per strategy ------------------------------------------------------------

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
        self._close_round(strategy, [], [])  # round 0: the seed set
        for round_ in range(self.settings.rounds + 1):
            models = self.make_models()
            job = self.submit_training(strategy, models)
            self.wait(job)
            models = job.update(models)
            candidates = strategy.candidates() if round_ < self.settings.rounds else []
            job = self.submit_scoring(strategy, models, [strategy.records[i] for i in candidates] + self.data.test)
            self.wait(job)
            scores, n = job.collect(), len(candidates)
            mae = strategy.record_accuracy(scores.mean[n:], scores.std[n:], self.data.true_top(self.data.test))
            self.progress('mae', {'strategy': strategy.key, 'mae': mae})
            if not candidates:
                return
            chosen = pick(self.settings.acquisition, scores.mean[:n], scores.std[:n], self.settings.batch_size,
                          beta=self.settings.beta, best=strategy.best()[0])
            batch = [candidates[i] for i in chosen]
            self._close_round(strategy, batch, self.simulate(strategy, batch))

    def pick_randomly(self, strategy: Strategy) -> None:
        """Each round: pick a batch uniformly among the molecules not simulated yet, simulate it, wait."""
        self._close_round(strategy, [], [])
        for _ in range(self.settings.rounds):
            candidates = strategy.candidates()
            if not candidates:
                return
            chosen = strategy.rng.choice(len(candidates), min(self.settings.batch_size, len(candidates)),
                                         replace=False)
            batch = [candidates[int(i)] for i in chosen]
            self._close_round(strategy, batch, self.simulate(strategy, batch))

    # Steps -------------------------------------------------------------------------------

    def submit_training(self, strategy: Strategy, models: list[Any]) -> Any:
        """Train a bootstrap ensemble on what the strategy knows: one task per member."""
        records = strategy.training_records()
        scorer = self.client.scorer
        lower = collect_outputs(records, LOWER) if strategy.learner == 'multi' else None
        seed = self.settings.random_seed * 100_000 + strategy.round * 100 + (0 if strategy.learner == 'multi' else 50)
        return self.client.submit_retrain(models, scorer.transform_inputs(records), scorer.transform_outputs(records, TOP),
                                          lower_fidelities=lower, seed=seed, task_info=self._info(strategy),
                                          retries=self.settings.retries, **self.settings.train_options)

    def submit_scoring(self, strategy: Strategy, models: list[Any], records: Sequence[Any]) -> Any:
        """Score records with the ensemble, one task per chunk."""
        lower = collect_outputs(records, LOWER) if strategy.learner == 'multi' else None
        return self.client.submit_score(models, self.client.scorer.transform_inputs(records), lower_fidelities=lower,
                                        chunk_size=self.settings.chunk_size, task_info=self._info(strategy),
                                        retries=self.settings.retries)

    def simulate(self, strategy: Strategy, batch: list[int]) -> list[Outcome]:
        """Simulate a batch and wait (molecules another strategy picked are simulated once); the outcomes."""
        info = {**self._info(strategy), 'round': strategy.round + 1}
        futures = self.simulations.request([strategy.records[i] for i in batch], info)
        self.progress('simulations', {'submitted': self.simulations.submitted})
        while wait_futures(futures, timeout=0.5).not_done:
            self._check_running()
        return [f.result() for f in futures]

    def wait(self, job: Any) -> None:
        """Block until every task of the job is back (failed tasks are resubmitted ``retries`` times by the job)."""
        if not job.wait(check_alive=self._check_running):
            job.close()
            raise DemoError(f'{len(job.failures)} {job.kind} task(s) failed after {self.settings.retries} '
                            f'retries: {"; ".join(str(f) for f in job.failures.values())}')

    def _close_round(self, strategy: Strategy, batch: list[int], outcomes: list[Outcome]) -> None:
        summary = strategy.fold(batch, outcomes, self.t0)
        self.progress('round', {'strategy': strategy.key, 'round': summary.round, 'best': summary.best})

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
            self.progress('finished', {'strategy': strategy.key})
            with self._lock:
                self._running -= 1
                if self._running == 0:
                    self.done.set()

    def _fail(self, exc: BaseException) -> None:
        logger.debug('Campaign failed', exc_info=exc)
        with self._lock:
            self.error = self.error or exc
        self.done.set()

    # Result processors: route each result to what waits for it ----------------------------

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
        self._record_task(result)
        try:
            add(result)
        except Exception as exc:  # a result nobody asked for, or one that cannot be read: stop the campaign
            self._fail(exc)

    def _record_task(self, result: Any) -> None:
        now, info, stamps = time.time(), result.task_info or {}, result.timestamp
        started = stamps.compute_started if math.isfinite(stamps.compute_started) else now
        ended = stamps.compute_ended if math.isfinite(stamps.compute_ended) else now
        running = result.time.running if math.isfinite(result.time.running) else ended - started
        self.tasks.append(TaskRecord(topic=result.topic, strategy=info.get('strategy'), round=info.get('round'),
                                     success=bool(result.success), started=started - self.t0,
                                     ended=ended - self.t0, running=float(running)))
        self.progress('task', {'topic': result.topic})
