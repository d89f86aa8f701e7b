"""The thinker's side of the bridge: a client that submits a scorer's tasks as jobs.

Everything here runs on the steering side, in a Colmena thinker or a plain script.
:class:`ScorerClient` submits tasks to methods made by :func:`~examol_core.colmena.make_methods`
and returns a :class:`~examol_core.colmena.jobs.Job` that tracks them:

* :meth:`ScorerClient.submit_retrain` → :class:`RetrainJob` (one task per model or ensemble
  member; :meth:`RetrainJob.update` folds the results back with ``scorer.update``);
* :meth:`ScorerClient.submit_score` / :meth:`~ScorerClient.submit_score_smiles` →
  :class:`ScoreJob` (one task per chunk; :meth:`ScoreJob.collect` gives the scores in input order);
* :meth:`ScorerClient.stream_smiles`: the same :class:`ScoreJob`, fed chunk by chunk from an
  iterable of any length with a bounded number of chunks in flight, yielding each chunk in order.

In a thinker, build the client with ``routed=True``, route every result with
:meth:`ScorerClient.add_result` from a ``@result_processor``, and let agents block on
:meth:`Job.wait`. In a script, :meth:`Job.wait` pulls the results itself.
"""
from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from examol_core.colmena.jobs import IncompleteJobError, Job, TaskFailure, wait_all
from examol_core.colmena.methods import EnsembleMessage, MethodNames, ScorerMethods
from examol_core.colmena.scorerjobs import RetrainJob, ScoreJob, Scores, chunk_bounds, summarise
from examol_core.errors import ExamolError
from examol_core.multifi import check_lower_fidelities, check_training_data
from examol_core.scorer import Scorer

__all__ = ['TaskFailure', 'IncompleteJobError', 'Job', 'RetrainJob', 'ScoreJob', 'Scores', 'ChunkOutcome',
           'ScorerClient', 'wait_all', 'chunk_bounds']


@dataclass
class ChunkOutcome:
    """One chunk of a :meth:`ScorerClient.stream_smiles` run, in stream order.

    Attributes:
        index: Chunk number, from 0.
        start: Position in the stream of the chunk's first SMILES.
        smiles: The SMILES of the chunk.
        mean: Scores (ensemble mean), NaN for rejected molecules; ``None`` if the chunk failed.
        std: Standard deviation over members for an ensemble, else ``None``.
        rejects: ``(position in the chunk, reason)`` of molecules that could not be scored.
        failure: Why the chunk failed after all retries, or ``None``.
        attempts: Number of times the chunk was submitted.
        lines: Line number of each SMILES when the stream gave ``(line, SMILES)`` pairs (as
            :func:`~examol_core.colmena.read_smiles` does), else its position in the stream.
    """

    index: int
    start: int
    smiles: list[str]
    mean: np.ndarray | None = None
    std: np.ndarray | None = None
    rejects: list[tuple[int, str]] = field(default_factory=list)
    failure: TaskFailure | None = None
    attempts: int = 1
    lines: list[int] = field(default_factory=list)


class ScorerClient:
    """Submit a scorer's tasks to a task server running :func:`make_methods` (steering side).

    Large objects shared by several tasks (a model message sent with every chunk, the training
    set of every ensemble member) are put once in the ProxyStore store of the topic's queue when
    they exceed its threshold, and evicted when the job succeeds (or :meth:`Job.close`).

    Args:
        queues: The client side of the task server's queues.
        scorer: The scorer (used on this side for ``prepare_message`` and ``update``).
        methods: The :class:`ScorerMethods` registered on the server, or their name prefix.
        retrain_topic: Topic of training tasks.
        score_topic: Topic of inference tasks.
        routed: A ``@result_processor`` gives every result of these topics to :meth:`add_result`
            (a thinker): :meth:`Job.wait` then only waits. Otherwise :meth:`Job.wait` pulls results.
    """

    def __init__(self, queues: Any, scorer: Scorer, methods: ScorerMethods | str, *, retrain_topic: str = 'train',
                 score_topic: str = 'score', routed: bool = False):
        self.queues = queues
        self.scorer = scorer
        self.name = methods.scorer_name if isinstance(methods, ScorerMethods) else methods
        self.method_names = methods.names if isinstance(methods, ScorerMethods) else MethodNames.for_scorer(methods)
        self.retrain_topic = retrain_topic
        self.score_topic = score_topic
        self.routed = routed
        for topic in (retrain_topic, score_topic):
            if topic not in queues.topics:
                raise ValueError(f'Topic {topic!r} is not one of the queues\' topics {sorted(queues.topics)}')
        self._jobs: dict[str, Job] = {}  # jobs with tasks running or failed, by id

    # Routing
    def add_result(self, result: Any) -> Job:
        """Give a result to the job that submitted it, and return that job (call it from a ``@result_processor``).

        Raises:
            ValueError: the result comes from a task no live job of this client submitted.
        """
        job_id = (result.task_info or {}).get('examol_job')
        job = self._jobs.get(job_id) if job_id is not None else None
        if job is None:
            raise ValueError(f'Result of task {result.task_id} ({result.method}) was not submitted by a job of this '
                             'client, or comes from a job that had already succeeded')
        job.add(result)
        return job

    def pull_result(self, topic: str, timeout: float = 1., progress: Callable[[Job, Any], None] | None = None,
                    jobs: Sequence[Job] = ()) -> Job | None:
        """Take one result off ``topic`` and route it (what :meth:`Job.wait` does in a script).

        Args:
            jobs: Jobs, possibly of other clients sharing the topic, that may own the result too.
        Returns:
            The job it went to, or ``None`` if none came within ``timeout`` seconds.
        Raises:
            ExamolError: a result from a task none of this client's jobs submitted.
        """
        from colmena.exceptions import TimeoutException

        try:
            result = self.queues.get_result(topic=topic, timeout=timeout)
        except TimeoutException:
            return None
        owner = next((job for job in jobs if job.owns(result)), None)
        try:
            job = self.add_result(result) if owner is None else owner
            if owner is not None:
                owner.add(result)
        except ValueError:
            raise ExamolError(f'Received a result for task {result.task_id} ({result.method}) on topic {topic!r} '
                              'that no job of this client is waiting for; when other tasks share the topic, route '
                              'results with add_result from a result processor (ScorerClient(..., routed=True))'
                              ) from None
        if progress is not None:
            progress(job, result)
        return job

    def release(self, job: Job) -> None:
        """Forget a closed job (called by :meth:`Job.close`): its late results are refused."""
        self._jobs.pop(job.job_id, None)

    @property
    def jobs(self) -> list[Job]:
        """Jobs with tasks running or failed."""
        return list(self._jobs.values())

    def _register(self, job: Job) -> Job:
        self._jobs[job.job_id] = job
        return job

    # Submission
    def _message(self, models: Any, training: bool) -> tuple[Any, int]:
        if isinstance(models, (list, tuple)):
            if not models:
                raise ValueError('An ensemble needs at least one model')
            return EnsembleMessage(tuple(self.scorer.prepare_message(m, training=training) for m in models)), len(models)
        return self.scorer.prepare_message(models, training=training), 0

    def submit_retrain(self, models: Any, inputs: Sequence[Any], outputs: np.ndarray, *,
                       lower_fidelities: np.ndarray | None = None, bootstrap_members: bool | None = None, seed: int = 0,
                       task_info: dict[str, Any] | None = None, retries: int = 0,
                       **retrain_kwargs: Any) -> RetrainJob:
        """Submit one training task per model.

        Args:
            models: A model, or a list/tuple of models (an ensemble: one task per member).
            inputs: ``scorer.transform_inputs(records)``.
            outputs: ``scorer.transform_outputs(records, recipe)``.
            lower_fidelities: ``collect_outputs(records, lower_recipes)`` for multi-fidelity training.
            bootstrap_members: Train each member on a bootstrap sample of the records (drawn on
                the worker with seed ``seed + member``, so reproducible); the default is ``True``
                for an ensemble of several models, ``False`` otherwise.
            seed: Base seed of the bootstrap samples.
            task_info: Extra information carried with each task and its result.
            retries: Times a failed task is resubmitted automatically.
            retrain_kwargs: Passed to ``scorer.retrain`` (training options).
        Raises:
            ShapeMismatchError, InvalidLabelsError: bad training data, before anything is sent.
        """
        ensemble = isinstance(models, (list, tuple))
        members = list(models) if ensemble else [models]
        if not members:
            raise ValueError('An ensemble needs at least one model')
        outputs, lower = check_training_data(len(inputs), outputs, lower_fidelities)
        bootstrap = (len(members) > 1) if bootstrap_members is None else bootstrap_members
        job = RetrainJob(self, self.method_names.retrain, self.retrain_topic, ensemble, bootstrap=bootstrap,
                         task_info=task_info, retries=retries)
        shared = (job.share(inputs), job.share(outputs))
        kwargs = dict(retrain_kwargs)
        if lower is not None:
            kwargs['lower_fidelities'] = job.share(lower)
        requests = []
        for i, model in enumerate(members):
            seeded = {**kwargs, 'bootstrap_seed': seed + i} if bootstrap else kwargs
            requests.append((i, (self.scorer.prepare_message(model, training=True), *shared), seeded))
        self._register(job).submit(requests)
        return job

    def _score_job(self, models: Any, method: str, smiles: bool, task_info: dict[str, Any] | None, retries: int,
                   auto_close: bool) -> tuple[ScoreJob, Any]:
        msg, members = self._message(models, training=False)
        job = ScoreJob(self, method, self.score_topic, members, smiles=smiles, task_info=task_info, retries=retries,
                       auto_close=auto_close)
        return self._register(job), job.share(msg)

    def submit_score(self, models: Any, inputs: Sequence[Any], *, lower_fidelities: np.ndarray | None = None,
                     chunk_size: int = 1000, task_info: dict[str, Any] | None = None, retries: int = 0,
                     **score_kwargs: Any) -> ScoreJob:
        """Split ``inputs`` into chunks and submit one inference task per chunk.

        Args:
            models: A model, or a list/tuple of ensemble members (scored together in each task).
            inputs: ``scorer.transform_inputs(records)``.
            lower_fidelities: ``(n, k)`` known lower levels (NaN = unknown), split with the inputs.
            chunk_size: Inputs per task.
            task_info: Extra information carried with each task and its result.
            retries: Times a failed chunk is resubmitted automatically.
            score_kwargs: Passed to ``scorer.score``.
        """
        lower_fidelities = check_lower_fidelities(len(inputs), lower_fidelities)
        bounds = chunk_bounds(len(inputs), chunk_size)
        job, msg = self._score_job(models, self.method_names.score, False, task_info, retries, True)
        chunks = []
        for start, stop in bounds:
            kwargs = dict(score_kwargs)
            if lower_fidelities is not None:
                kwargs['lower_fidelities'] = lower_fidelities[start:stop]
            chunks.append((start, stop, (msg, inputs[start:stop]), kwargs))
        if chunks:
            job.submit_chunks(chunks)
        else:
            job.close()
        return job

    def submit_score_smiles(self, models: Any, smiles: Sequence[str], *, chunk_size: int = 1000, num_lower: int = 0,
                            task_info: dict[str, Any] | None = None, retries: int = 0,
                            **score_kwargs: Any) -> ScoreJob:
        """Like :meth:`submit_score`, for SMILES parsed and featurised on the workers.

        Molecules that cannot be scored are NaN in :meth:`ScoreJob.collect`, with the reason in
        :attr:`Scores.rejects`. ``num_lower``: lower fidelity levels the model was trained with.
        """
        job, msg = self._score_job(models, self.method_names.score_smiles, True, task_info, retries, True)
        kwargs = {**score_kwargs, **({'num_lower': num_lower} if num_lower else {})}
        chunks = [(start, stop, (msg, list(smiles[start:stop])), kwargs)
                  for start, stop in chunk_bounds(len(smiles), chunk_size)]
        if chunks:
            job.submit_chunks(chunks)
        else:
            job.close()
        return job

    def stream_smiles(self, models: Any, smiles: Iterable[str] | Iterable[tuple[int, str]], *, chunk_size: int = 1000,
                      max_in_flight: int = 4, retries: int = 1, num_lower: int = 0,
                      check_alive: Callable[[], None] | None = None, **score_kwargs: Any) -> Iterator[ChunkOutcome]:
        """Score a stream of SMILES of any length; yield each chunk's outcome in order.

        One :class:`ScoreJob` (the machinery of :meth:`submit_score_smiles`: routing, retries,
        shape checks) is fed chunk by chunk: at most ``max_in_flight`` chunks are running or
        waiting to be yielded, so memory stays bounded whatever the length of the stream. A
        chunk that still fails after ``retries`` resubmissions is yielded with its
        :attr:`~ChunkOutcome.failure`.

        Args:
            models: A model, or a list/tuple of ensemble members.
            smiles: The molecules, or ``(line number, SMILES)`` pairs (an iterator is consumed lazily).
            num_lower: Lower fidelity levels the model was trained with (see
                :func:`~examol_core.colmena.methods.score_smiles_task`).
            check_alive: Called while waiting; raise from it to abort (dead task server).
        """
        if max_in_flight < 1:
            raise ValueError(f'max_in_flight must be at least 1; got {max_in_flight}')
        if chunk_size < 1:
            raise ValueError(f'chunk_size must be at least 1; got {chunk_size}')
        job, msg = self._score_job(models, self.method_names.score_smiles, True, None, retries, False)
        kwargs = {**score_kwargs, **({'num_lower': num_lower} if num_lower else {})}
        source = iter(smiles)
        waiting: deque[tuple[int, list[int], list[str]]] = deque()  # submitted chunks, in order
        try:
            while True:
                while len(waiting) < max_in_flight:
                    batch = [(job.n + i, item) if isinstance(item, str) else item
                             for i, item in enumerate(itertools.islice(source, chunk_size))]
                    if not batch:
                        break
                    chunk = [s for _, s in batch]
                    [index] = job.submit_chunks([(job.n, job.n + len(chunk), (msg, chunk), kwargs)])
                    waiting.append((index, [n for n, _ in batch], chunk))
                if not waiting:
                    return
                index, lines, chunk = waiting.popleft()
                job.wait(index=index, check_alive=check_alive)
                value, failure = job.take(index)
                outcome = ChunkOutcome(index=index, start=job.bounds[index][0], smiles=chunk, failure=failure,
                                       attempts=job.attempts(index), lines=lines)
                if value is not None:
                    outcome.mean, outcome.std, _ = summarise(value.scores, bool(job.members))
                    outcome.rejects = value.rejects
                yield outcome
        finally:
            job.close()
