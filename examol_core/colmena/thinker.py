"""Thinker helpers: submit a scorer's training and chunked inference, and fold the results back.

Everything here runs on the steering side, in a Colmena thinker or a plain script.
:class:`ScorerClient` submits tasks to methods made by :func:`~examol_core.colmena.make_methods`
and returns a job that tracks them:

* :class:`RetrainJob`: one task per model (or per member of a bootstrap ensemble); fold the
  results back with :meth:`RetrainJob.update`, which calls ``scorer.update``.
* :class:`ScoreJob`: inputs split into chunks, one task each; :meth:`ScoreJob.collect` reassembles
  the scores in input order (mean and standard deviation for an ensemble).

Give each :class:`~colmena.models.Result` to the job that submitted it (:meth:`Job.add`) from a
``@result_processor``, or let a script block on :meth:`Job.wait`. A failed task is recorded with
its error (:attr:`Job.failures`) and can be resubmitted (:meth:`Job.resubmit`); no score is
dropped or shifted: missing chunks are NaN and flagged, or :meth:`ScoreJob.collect` raises.

For search spaces too large for memory, :meth:`ScorerClient.stream_smiles` scores an iterable
of SMILES with a bounded number of chunks in flight and yields the chunks in order.
"""
from __future__ import annotations

import itertools
import logging
import pickle
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from examol_core.colmena.methods import ChunkScores, EnsembleMessage, ScorerMethods
from examol_core.errors import ExamolError
from examol_core.multifi import check_training_data
from examol_core.scorer import Scorer

logger = logging.getLogger(__name__)

__all__ = ['TaskFailure', 'IncompleteJobError', 'Job', 'RetrainJob', 'ScoreJob', 'Scores', 'ChunkOutcome',
           'ScorerClient', 'wait_all', 'chunk_bounds']


class IncompleteJobError(ExamolError, RuntimeError):
    """Results were requested from a job whose tasks failed or are still running."""


@dataclass(frozen=True)
class TaskFailure:
    """A task that failed: which piece of the job, and why."""

    index: int
    """Ensemble member (retraining) or chunk (scoring)."""
    task_id: str
    exception: str
    traceback: str | None = None
    start: int | None = None
    stop: int | None = None

    def __str__(self) -> str:
        rows = '' if self.start is None else f' (inputs {self.start}-{self.stop - 1})'
        return f'task {self.index}{rows} failed: {self.exception}'


def chunk_bounds(n: int, chunk_size: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of each chunk when splitting ``n`` items into chunks of ``chunk_size``."""
    if chunk_size < 1:
        raise ValueError(f'chunk_size must be at least 1; got {chunk_size}')
    return [(start, min(start + chunk_size, n)) for start in range(0, n, chunk_size)]


def _value(result: Any) -> Any:
    from proxystore.proxy import Proxy, extract

    value = result.value
    return extract(value) if isinstance(value, Proxy) else value


def _worker_info(result: Any) -> dict[str, Any]:
    """A result's ``worker_info`` as a plain dictionary (Colmena gives a model or a dictionary)."""
    info = result.worker_info
    if info is None:
        return {}
    return dict(info) if isinstance(info, dict) else info.model_dump(exclude_none=True)


def _failure_of(result: Any, index: int, start: int | None = None, stop: int | None = None) -> TaskFailure:
    info = result.failure_info
    return TaskFailure(index=index, task_id=result.task_id, exception=info.exception if info else 'unknown error',
                       traceback=info.traceback if info else None, start=start, stop=stop)


class Job:
    """Tasks submitted together; collects their results as they come back (steering side).

    Attributes:
        job_id: Carried in each task's ``task_info['examol_job']``, to route results.
        results: Index → value of each successful task.
        failures: Index → :class:`TaskFailure` of each task that failed (until resubmitted).
    """

    kind = 'job'

    def __init__(self, client: 'ScorerClient', method: str, topic: str, task_info: dict[str, Any] | None = None):
        self.client = client
        self.method = method
        self.topic = topic
        self.job_id = uuid.uuid4().hex
        self.task_info = dict(task_info or {})
        self.results: dict[int, Any] = {}
        self.failures: dict[int, TaskFailure] = {}
        self._requests: dict[int, tuple[tuple[Any, ...], dict[str, Any]]] = {}
        self._attempts: dict[int, int] = {}  # index → number of its latest submission
        self._pending: set[int] = set()
        self._proxy_keys: list[Any] = []
        self._closed = False
        self._lock = threading.RLock()
        self.submitted_at = time.monotonic()

    # Submission
    def _submit_all(self, requests: Sequence[tuple[int, tuple[Any, ...], dict[str, Any]]]) -> list[str]:
        """Send tasks, after marking every one of them pending.

        Marking first matters in a thinker: results come back on another thread, possibly
        before the last task is sent, and the job must not look done before then.
        """
        with self._lock:
            self.client._jobs[self.job_id] = self
            for index, args, kwargs in requests:
                self._requests[index] = (args, kwargs)
                self._attempts[index] = self._attempts.get(index, 0) + 1
                self._pending.add(index)
            attempts = {index: self._attempts[index] for index, _, _ in requests}
        ids = []
        for index, args, kwargs in requests:
            info = {**self.task_info, 'examol_job': self.job_id, 'examol_index': index,
                    'examol_attempt': attempts[index], **self._extra_info(index)}
            ids.append(self.client.queues.send_inputs(*args, method=self.method, input_kwargs=kwargs,
                                                      topic=self.topic, task_info=info))
        return ids

    def _extra_info(self, index: int) -> dict[str, Any]:
        return {}

    def resubmit(self, indices: Iterable[int] | None = None) -> list[str]:
        """Submit failed tasks again (all of them by default); returns the new task ids.

        Raises:
            ValueError: an index that has not failed (it is pending or already succeeded).
        """
        with self._lock:
            if self._closed:
                raise IncompleteJobError(f'This {self.kind} job was closed; submit a new one')
            indices = sorted(self.failures) if indices is None else list(indices)
            for index in indices:
                if index not in self.failures:
                    raise ValueError(f'{self.kind} task {index} has not failed; only failed tasks can be resubmitted '
                                     f'(failed: {sorted(self.failures)})')
            for index in indices:
                del self.failures[index]
            requests = [(index, *self._requests[index]) for index in indices]
        return self._submit_all(requests)

    # Results
    def owns(self, result: Any) -> bool:
        """Whether ``result`` comes from a task of this job."""
        return (result.task_info or {}).get('examol_job') == self.job_id

    def add(self, result: Any) -> bool:
        """Record a result of one of this job's tasks.

        Returns:
            ``True`` when this result finished the job (every task has succeeded or failed).
        Raises:
            ValueError: the result belongs to another job.
        """
        if not self.owns(result):
            raise ValueError(f'Result of task {result.task_id} ({result.method}) does not belong to {self.kind} job '
                             f'{self.job_id}; give it to the job whose owns() is true')
        index = int(result.task_info['examol_index'])
        with self._lock:
            if result.task_info.get('examol_attempt') != self._attempts.get(index) or index not in self._pending:
                logger.warning('Ignoring a stale result for %s task %d (task %s)', self.kind, index, result.task_id)
                return False
            self._pending.discard(index)
            if result.success:
                try:
                    self.results[index] = self._accept(index, _value(result))
                except Exception as exc:  # a malformed result must not be folded in
                    self.failures[index] = TaskFailure(index, result.task_id, f'{type(exc).__name__}: {exc}',
                                                       **self._bounds(index))
            else:
                self.failures[index] = _failure_of(result, index, **self._bounds(index))
                logger.warning('%s', self.failures[index])
            if self.done:
                self._finished()
            return self.done

    def _bounds(self, index: int) -> dict[str, int]:
        return {}

    def _accept(self, index: int, value: Any) -> Any:
        return value

    def _finished(self) -> None:
        if not self.failures:
            self.close()

    @property
    def size(self) -> int:
        """Number of tasks in the job."""
        return len(self._requests)

    @property
    def pending(self) -> list[int]:
        """Indices of the tasks still running."""
        return sorted(self._pending)

    @property
    def done(self) -> bool:
        """Every task has come back (successfully or not)."""
        return not self._pending

    @property
    def ok(self) -> bool:
        """Every task has come back successfully."""
        return self.done and not self.failures

    def wait(self, timeout: float | None = None, check_alive: Callable[[], None] | None = None,
             progress: Callable[['Job', Any], None] | None = None) -> bool:
        """Block until every task has come back; for scripts where this job alone uses its topic.

        Returns:
            :attr:`ok`.
        """
        wait_all([self], timeout=timeout, check_alive=check_alive, progress=progress)
        return self.ok

    def close(self) -> None:
        """Evict the objects this job shared through ProxyStore and forget the job (automatic on success).

        Call it to abandon a job whose tasks failed; it can no longer be resubmitted then.
        """
        with self._lock:
            keys, self._proxy_keys = self._proxy_keys, []
            self.client._jobs.pop(self.job_id, None)
            self._closed = True
        self.client._evict(keys)

    def _raise_if_incomplete(self) -> None:
        if self._pending:
            raise IncompleteJobError(f'{self.kind} job still has {len(self._pending)} of {self.size} tasks running: '
                                     f'{self.pending}')
        if self.failures:
            details = '; '.join(str(f) for f in self.failures.values())
            raise IncompleteJobError(f'{len(self.failures)} of {self.size} {self.kind} tasks failed: {details}. '
                                     'Call resubmit() to try them again.')


def wait_all(jobs: Sequence[Job], timeout: float | None = None, check_alive: Callable[[], None] | None = None,
             progress: Callable[[Job, Any], None] | None = None) -> None:
    """Pull results from the queues and route them to ``jobs`` until all are done.

    Only for code where these jobs are the only consumers of their topics (a script, a test);
    in a thinker, give results to :meth:`Job.add` from a ``@result_processor`` instead.

    Args:
        timeout: Seconds to wait in total (``None``: no limit).
        check_alive: Called about every second; raise from it to stop waiting (e.g.
            :meth:`TaskServerHandle.check_alive`, so a dead task server is noticed).
        progress: Called with ``(job, result)`` after each result.
    Raises:
        TimeoutError: ``timeout`` elapsed first.
        ExamolError: a result for a task none of ``jobs`` submitted.
    """
    from colmena.exceptions import TimeoutException

    deadline = None if timeout is None else time.monotonic() + timeout
    while not all(job.done for job in jobs):
        if deadline is not None and time.monotonic() > deadline:
            pending = {job.job_id: job.pending for job in jobs if not job.done}
            raise TimeoutError(f'Tasks still running after {timeout} s: {pending}')
        if check_alive is not None:
            check_alive()
        for topic in dict.fromkeys(job.topic for job in jobs if not job.done):
            try:
                result = jobs[0].client.queues.get_result(topic=topic, timeout=1)
            except TimeoutException:
                continue
            owner = next((job for job in jobs if job.owns(result)), None)
            if owner is None:
                raise ExamolError(f'Received a result for task {result.task_id} ({result.method}) on topic {topic!r} '
                                  'that none of the awaited jobs submitted; use Job.add from a result processor when '
                                  'several producers share a topic')
            owner.add(result)
            if progress is not None:
                progress(owner, result)


class RetrainJob(Job):
    """Training tasks for a model or the members of an ensemble."""

    kind = 'retrain'

    def __init__(self, client: 'ScorerClient', method: str, topic: str, ensemble: bool,
                 task_info: dict[str, Any] | None = None):
        super().__init__(client, method, topic, task_info)
        self.ensemble = ensemble
        self.bootstrap = False

    def update(self, models: Any) -> Any:
        """Fold the training results into the local model(s) with ``scorer.update`` (steering side).

        Args:
            models: The model(s) given to :meth:`ScorerClient.submit_retrain`, in the same order.
        Returns:
            The updated model, or list of members.
        Raises:
            IncompleteJobError: a task failed or is still running (nothing is updated then).
        """
        self._raise_if_incomplete()
        members = list(models) if self.ensemble else [models]
        if len(members) != self.size:
            raise ValueError(f'Job trained {self.size} models; got {len(members)} to update')
        updated = [self.client.scorer.update(m, self.results[i]) for i, m in enumerate(members)]
        return updated if self.ensemble else updated[0]


@dataclass
class Scores:
    """Scores reassembled in input order.

    Attributes:
        mean: ``(n,)`` scores (the ensemble mean for an ensemble); NaN where ``missing``.
        std: ``(n,)`` standard deviation over ensemble members, or ``None`` for a single model.
        members: ``(members, n)`` scores of each member, or ``None`` for a single model.
        missing: ``(n,)`` boolean: the chunk holding this input failed (only with ``allow_missing``).
    """

    mean: np.ndarray
    std: np.ndarray | None
    members: np.ndarray | None
    missing: np.ndarray


def _summarise(values: np.ndarray, ensemble: bool) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    if not ensemble:
        return values, None, None
    with np.errstate(invalid='ignore'):
        return values.mean(axis=0), values.std(axis=0), values


class ScoreJob(Job):
    """Inference on chunks of inputs; reassembles the scores in order."""

    kind = 'score'

    def __init__(self, client: 'ScorerClient', method: str, topic: str, n: int, bounds: list[tuple[int, int]],
                 members: int, task_info: dict[str, Any] | None = None):
        super().__init__(client, method, topic, task_info)
        self.n = n
        self.bounds = bounds
        self.members = members  # 0 for a single model

    def _extra_info(self, index: int) -> dict[str, Any]:
        start, stop = self.bounds[index]
        return {'examol_start': start, 'examol_stop': stop}

    def _bounds(self, index: int) -> dict[str, int]:
        start, stop = self.bounds[index]
        return {'start': start, 'stop': stop}

    def _accept(self, index: int, value: Any) -> np.ndarray:
        start, stop = self.bounds[index]
        values = np.asarray(value, dtype=float)
        expected = (self.members, stop - start) if self.members else (stop - start,)
        if values.shape != expected:
            raise ValueError(f'chunk {index} (inputs {start}-{stop - 1}) returned scores of shape {values.shape}; '
                             f'expected {expected}')
        return values

    def collect(self, allow_missing: bool = False) -> Scores:
        """Scores in input order.

        Args:
            allow_missing: Return NaN (flagged in :attr:`Scores.missing`) for chunks that failed or
                are still running, instead of raising.
        Raises:
            IncompleteJobError: some chunk failed or is running, and not ``allow_missing``.
        """
        if not allow_missing:
            self._raise_if_incomplete()
        shape = (self.members, self.n) if self.members else (self.n,)
        values = np.full(shape, np.nan)
        missing = np.ones(self.n, dtype=bool)
        for index, chunk in self.results.items():
            start, stop = self.bounds[index]
            values[..., start:stop] = chunk
            missing[start:stop] = False
        mean, std, members = _summarise(values, bool(self.members))
        return Scores(mean=mean, std=std, members=members, missing=missing)


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
        worker: The ``worker_info`` of the task that scored it: ``hostname``, and ``batch_job_id``
            and ``batch_scheduler`` when the worker ran in a batch job (Slurm, PBS, Flux...).
    """

    index: int
    start: int
    smiles: list[str]
    mean: np.ndarray | None = None
    std: np.ndarray | None = None
    rejects: list[tuple[int, str]] = field(default_factory=list)
    failure: TaskFailure | None = None
    attempts: int = 1
    worker: dict[str, Any] = field(default_factory=dict)


class ScorerClient:
    """Submit a scorer's tasks to a task server running :func:`make_methods` (steering side).

    Large objects shared by several tasks (a model message sent with every chunk, the training
    set of every ensemble member) are put once in the ProxyStore store of the topic's queue when
    they exceed its threshold, and evicted when the job succeeds (or :meth:`Job.close`). Other
    large arguments and results are proxied by Colmena itself.

    Args:
        queues: The client side of the task server's queues.
        scorer: The scorer (used on this side for ``prepare_message`` and ``update``).
        methods: The :class:`ScorerMethods` registered on the server, or their name prefix.
        retrain_topic: Topic of training tasks.
        score_topic: Topic of inference tasks.
    """

    def __init__(self, queues: Any, scorer: Scorer, methods: ScorerMethods | str, *, retrain_topic: str = 'train',
                 score_topic: str = 'score'):
        self.queues = queues
        self.scorer = scorer
        self.name = methods.scorer_name if isinstance(methods, ScorerMethods) else methods
        self.retrain_topic = retrain_topic
        self.score_topic = score_topic
        for topic in (retrain_topic, score_topic):
            if topic not in queues.topics:
                raise ValueError(f'Topic {topic!r} is not one of the queues\' topics {sorted(queues.topics)}')
        self._jobs: dict[str, Job] = {}  # jobs with tasks running or failed, by id

    def add_result(self, result: Any) -> Job:
        """Give a result to the job that submitted it, and return that job.

        The way to use results in a ``@result_processor``: unlike keeping the job returned by a
        ``submit_*`` call in an attribute, it cannot race with a result that comes back before
        the call returns.

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

    # ProxyStore for objects shared by several tasks
    def _share(self, obj: Any, topic: str) -> tuple[Any, Any]:
        from proxystore.store import get_store
        from proxystore.store.utils import get_key

        name = self.queues.proxystore_name.get(topic)
        threshold = self.queues.proxystore_threshold.get(topic)
        if obj is None or name is None or threshold is None:
            return obj, None
        if len(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)) < threshold:
            return obj, None
        proxy = get_store(name).proxy(obj, evict=False, populate_target=False)
        return proxy, (name, get_key(proxy))

    def _evict(self, keys: Iterable[Any]) -> None:
        from proxystore.store import get_store

        for name, key in keys:
            store = get_store(name)
            if store is not None:
                try:
                    store.evict(key)
                except Exception:  # the store may already be closed at shutdown
                    logger.debug('Could not evict %s from %s', key, name)

    def _message(self, models: Any, training: bool) -> tuple[Any, int]:
        if isinstance(models, (list, tuple)):
            if not models:
                raise ValueError('An ensemble needs at least one model')
            return EnsembleMessage(tuple(self.scorer.prepare_message(m, training=training) for m in models)), len(models)
        return self.scorer.prepare_message(models, training=training), 0

    def submit_retrain(self, models: Any, inputs: Sequence[Any], outputs: np.ndarray, *,
                       lower_fidelities: np.ndarray | None = None, bootstrap_members: bool | None = None, seed: int = 0,
                       task_info: dict[str, Any] | None = None, **retrain_kwargs: Any) -> RetrainJob:
        """Submit one training task per model.

        Args:
            models: A model, or a list/tuple of models (an ensemble: one task per member).
            inputs: ``scorer.transform_inputs(records)``.
            outputs: ``scorer.transform_outputs(records, recipe)``.
            lower_fidelities: ``collect_outputs(records, lower_recipes)`` for multi-fidelity training.
            bootstrap_members: Train each member on a bootstrap sample of the records (drawn on
                the worker with seed ``seed + member``); the default is ``True`` for an ensemble of
                several models, ``False`` otherwise.
            seed: Base seed of the bootstrap samples.
            task_info: Extra information carried with each task and its result.
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
        job = RetrainJob(self, f'{self.name}_retrain', self.retrain_topic, ensemble, task_info)
        job.bootstrap = bootstrap
        shared_inputs, key_i = self._share(inputs, self.retrain_topic)
        shared_outputs, key_o = self._share(outputs, self.retrain_topic)
        shared_lower, key_l = self._share(lower, self.retrain_topic)
        job._proxy_keys = [k for k in (key_i, key_o, key_l) if k is not None]
        requests = []
        for i, model in enumerate(members):
            kwargs = dict(retrain_kwargs)
            if lower is not None:
                kwargs['lower_fidelities'] = shared_lower
            if bootstrap:
                kwargs['bootstrap_seed'] = seed + i
            msg = self.scorer.prepare_message(model, training=True)
            requests.append((i, (msg, shared_inputs, shared_outputs), kwargs))
        job._submit_all(requests)
        return job

    def submit_score(self, models: Any, inputs: Sequence[Any], *, lower_fidelities: np.ndarray | None = None,
                     chunk_size: int = 1000, task_info: dict[str, Any] | None = None,
                     **score_kwargs: Any) -> ScoreJob:
        """Split ``inputs`` into chunks and submit one inference task per chunk.

        Args:
            models: A model, or a list/tuple of ensemble members (scored together in each task).
            inputs: ``scorer.transform_inputs(records)``.
            lower_fidelities: ``(n, k)`` known lower levels (NaN = unknown), split with the inputs.
            chunk_size: Inputs per task.
            task_info: Extra information carried with each task and its result.
            score_kwargs: Passed to ``scorer.score``.
        """
        n = len(inputs)
        if lower_fidelities is not None:
            lower_fidelities = np.asarray(lower_fidelities, dtype=float)
            if lower_fidelities.ndim != 2 or lower_fidelities.shape[0] != n:
                from examol_core.errors import ShapeMismatchError

                raise ShapeMismatchError(f'lower_fidelities must have shape ({n}, levels) to match {n} inputs; '
                                         f'got {lower_fidelities.shape}')
        msg, members = self._message(models, training=False)
        bounds = chunk_bounds(n, chunk_size)
        job = ScoreJob(self, f'{self.name}_score', self.score_topic, n, bounds, members, task_info)
        shared_msg, key = self._share(msg, self.score_topic)
        job._proxy_keys = [key] if key is not None else []
        requests = []
        for index, (start, stop) in enumerate(bounds):
            kwargs = dict(score_kwargs)
            if lower_fidelities is not None:
                kwargs['lower_fidelities'] = lower_fidelities[start:stop]
            requests.append((index, (shared_msg, inputs[start:stop]), kwargs))
        if requests:
            job._submit_all(requests)
        else:
            job.close()
        return job

    def stream_smiles(self, models: Any, smiles: Iterable[str], *, chunk_size: int = 1000, max_in_flight: int = 4,
                      retries: int = 1, num_lower: int = 0, check_alive: Callable[[], None] | None = None,
                      **score_kwargs: Any) -> Iterator[ChunkOutcome]:
        """Score a stream of SMILES of any length; yield each chunk's outcome in order.

        Molecules are parsed and featurised on the workers; those that fail are reported in
        :attr:`ChunkOutcome.rejects` with a reason. At most ``max_in_flight`` chunks are
        submitted or waiting to be yielded at once, so memory stays bounded whatever the length
        of the stream. A failed chunk is resubmitted up to ``retries`` times, then yielded with
        its :attr:`~ChunkOutcome.failure`. This generator consumes every result of the score
        topic: do not share the topic with other jobs while it runs.

        Args:
            models: A model, or a list/tuple of ensemble members.
            smiles: The molecules (an iterator is consumed lazily).
            num_lower: Lower fidelity levels the model was trained with (see
                :func:`~examol_core.colmena.methods.score_smiles_task`).
            check_alive: Called while waiting; raise from it to abort (dead task server).
        """
        from colmena.exceptions import TimeoutException

        if max_in_flight < 1:
            raise ValueError(f'max_in_flight must be at least 1; got {max_in_flight}')
        msg, members = self._message(models, training=False)
        shared_msg, key = self._share(msg, self.score_topic)
        method = f'{self.name}_score_smiles'
        job_id = uuid.uuid4().hex
        source = iter(smiles)
        chunks: dict[int, ChunkOutcome] = {}  # submitted or waiting to be yielded
        task_of: dict[str, int] = {}
        next_submit = next_yield = position = 0
        exhausted = False

        def submit(outcome: ChunkOutcome) -> None:
            kwargs = dict(score_kwargs)
            if num_lower:
                kwargs['num_lower'] = num_lower
            task_id = self.queues.send_inputs(shared_msg, outcome.smiles, method=method, input_kwargs=kwargs,
                                              topic=self.score_topic,
                                              task_info={'examol_job': job_id, 'examol_index': outcome.index,
                                                         'examol_start': outcome.start})
            task_of[task_id] = outcome.index

        try:
            while True:
                # Fill the window: chunks submitted or finished but not yet yielded
                while not exhausted and next_submit < next_yield + max_in_flight:
                    batch = list(itertools.islice(source, chunk_size))
                    if not batch:
                        exhausted = True
                        break
                    outcome = ChunkOutcome(index=next_submit, start=position, smiles=batch)
                    chunks[next_submit] = outcome
                    submit(outcome)
                    position += len(batch)
                    next_submit += 1
                # Yield every finished chunk at the head of the stream
                while next_yield in chunks and (chunks[next_yield].mean is not None
                                                or chunks[next_yield].failure is not None):
                    yield chunks.pop(next_yield)
                    next_yield += 1
                if exhausted and next_yield == next_submit:
                    return
                if next_yield < next_submit and next_yield not in chunks:  # pragma: no cover - defensive
                    raise ExamolError(f'Chunk {next_yield} was lost')
                if check_alive is not None:
                    check_alive()
                try:
                    result = self.queues.get_result(topic=self.score_topic, timeout=1)
                except TimeoutException:
                    continue
                index = task_of.pop(result.task_id, None)
                if index is None or (result.task_info or {}).get('examol_job') != job_id:
                    raise ExamolError(f'Received a result for task {result.task_id} ({result.method}) that this '
                                      f'stream did not submit: the {self.score_topic!r} topic must be used only by it')
                outcome = chunks[index]
                failure = None
                if result.success:
                    try:
                        value = _value(result)
                        if not isinstance(value, ChunkScores):
                            raise TypeError(f'expected ChunkScores, got {type(value).__name__}')
                        values = np.asarray(value.scores, dtype=float)
                        expected = (members, len(outcome.smiles)) if members else (len(outcome.smiles),)
                        if values.shape != expected:
                            raise ValueError(f'returned scores of shape {values.shape}; expected {expected}')
                    except Exception as exc:
                        failure = TaskFailure(index, result.task_id, f'{type(exc).__name__}: {exc}',
                                              start=outcome.start, stop=outcome.start + len(outcome.smiles))
                    else:
                        outcome.mean, outcome.std, _ = _summarise(values, bool(members))
                        outcome.rejects = list(value.rejects)
                        outcome.failure = None
                        outcome.worker = _worker_info(result)
                else:
                    failure = _failure_of(result, index, outcome.start, outcome.start + len(outcome.smiles))
                if failure is not None:
                    if outcome.attempts <= retries:
                        logger.warning('%s; resubmitting (attempt %d of %d)', failure, outcome.attempts + 1,
                                       retries + 1)
                        outcome.attempts += 1
                        submit(outcome)
                    else:
                        outcome.failure = failure
        finally:
            if key is not None:
                self._evict([key])
