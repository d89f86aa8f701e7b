"""Jobs: tasks submitted together, whose results are routed in, waited on and read back in input order.

A :class:`Job` owns everything about its tasks: what was sent (to resubmit it), which attempt
is current (so a stale result is ignored), which tasks are pending, their results and failures,
and the objects it shared through ProxyStore. Results reach it through
:meth:`~examol_core.colmena.ScorerClient.add_result` (from a ``@result_processor`` in a
thinker) or, in a script, from :meth:`Job.wait` pulling them off the queues. Everything here
runs on the steering side.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from examol_core.colmena import proxies
from examol_core.errors import ExamolError

if TYPE_CHECKING:
    from examol_core.colmena.thinker import ScorerClient

logger = logging.getLogger(__name__)

__all__ = ['TaskFailure', 'IncompleteJobError', 'Job', 'wait_all']

Request = tuple[int, tuple[Any, ...], dict[str, Any]]
"""``(index, args, kwargs)`` of one task."""


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
        return f'task {self.index}{rows} failed: {self.summary}'

    @property
    def summary(self) -> str:
        """The error on one line (its first), at most 200 characters: for consoles and per-molecule reasons.

        :attr:`exception` and :attr:`traceback` keep everything.
        """
        lines = [line.strip() for line in self.exception.splitlines() if line.strip()]
        first = ' '.join(lines[:1]) + (' ...' if len(lines) > 1 else '')
        return first if len(first) <= 200 else first[:197] + '...'


class Job:
    """Tasks submitted together; collects their results as they come back.

    Args:
        client: The client that made the job (its queues send the tasks; it forgets the job when closed).
        method: Task-server method of every task.
        topic: Queue topic of the tasks.
        task_info: Extra information carried with each task and its result.
        retries: Times a failed task is resubmitted automatically before it counts as failed.
        auto_close: Close the job (evict what it shared) once every task has succeeded.
    Attributes:
        job_id: Carried in each task's ``task_info['examol_job']``, to route results.
        results: Index → value of each successful task.
        failures: Index → :class:`TaskFailure` of each task that failed (until resubmitted).
    """

    kind = 'job'

    def __init__(self, client: 'ScorerClient', method: str, topic: str, *, task_info: dict[str, Any] | None = None,
                 retries: int = 0, auto_close: bool = True):
        self.client = client
        self.method = method
        self.topic = topic
        self.job_id = uuid.uuid4().hex
        self.task_info = dict(task_info or {})
        self.retries = retries
        self.results: dict[int, Any] = {}
        self.failures: dict[int, TaskFailure] = {}
        self._requests: dict[int, tuple[tuple[Any, ...], dict[str, Any]]] = {}
        self._attempts: dict[int, int] = {}  # index → number of its latest submission
        self._pending: set[int] = set()
        self._proxy_keys: list[proxies.ProxyKey] = []
        self._task_keys: dict[int, list[proxies.ProxyKey]] = {}  # large arguments of one task, by index
        self._auto_close = auto_close
        self._closed = False
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self.submitted_at = time.monotonic()

    # Submission
    def share(self, obj: Any) -> Any:
        """``obj``, or a proxy to it stored once for all of this job's tasks (evicted when the job closes)."""
        shared, key = proxies.share(self.client.queues, self.topic, obj)
        if key is not None:
            with self._lock:
                self._proxy_keys.append(key)
        return shared

    def submit(self, requests: Sequence[Request]) -> list[str]:
        """Send tasks, after marking every one of them pending; returns their task ids.

        Marking first matters in a thinker: results come back on another thread, possibly
        before the last task is sent, and the job must not look done before then.
        """
        requests = [(index, *self._proxy_arguments(index, args, kwargs)) for index, args, kwargs in requests]
        with self._lock:
            if self._closed:
                proxies.evict(key for index, _, _ in requests for key in self._task_keys.pop(index, []))
                raise IncompleteJobError(f'This {self.kind} job was closed; submit a new one')
            for index, args, kwargs in requests:
                self._requests[index] = (args, kwargs)
            sends = self._mark([index for index, _, _ in requests])
        return self._send(sends)

    def _proxy_arguments(self, index: int, args: tuple[Any, ...],
                         kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Put a task's large arguments in ProxyStore under this job, rather than leave it to Colmena.

        Colmena proxies large arguments itself, evicted when a worker reads them: those of a task
        whose worker died first would stay in the store (Redis) for good. The job's own proxies
        are evicted when the task succeeds or, at the latest, when the job closes.
        """
        from proxystore.proxy import Proxy

        keys: list[proxies.ProxyKey] = []

        def own(value: Any) -> Any:
            if isinstance(value, Proxy):
                return value
            shared, key = proxies.share(self.client.queues, self.topic, value)
            if key is not None:
                keys.append(key)
            return shared

        args, kwargs = tuple(own(a) for a in args), {k: own(v) for k, v in kwargs.items()}
        if keys:
            with self._lock:
                self._task_keys.setdefault(index, []).extend(keys)
        return args, kwargs

    def _mark(self, indices: Iterable[int]) -> list[tuple[int, int]]:
        """Count a new attempt of each task and mark it pending (lock held); ``(index, attempt)`` to send."""
        sends = []
        for index in indices:
            self._attempts[index] = self._attempts.get(index, 0) + 1
            self._pending.add(index)
            sends.append((index, self._attempts[index]))
        return sends

    def _send(self, sends: list[tuple[int, int]]) -> list[str]:
        ids = []
        for index, attempt in sends:
            args, kwargs = self._requests[index]
            info = {**self.task_info, 'examol_job': self.job_id, 'examol_index': index, 'examol_attempt': attempt,
                    **self._extra_info(index)}
            ids.append(self.client.send(*args, method=self.method, input_kwargs=kwargs, topic=self.topic,
                                        task_info=info))
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
            sends = self._mark(indices)
        return self._send(sends)

    # Results
    def owns(self, result: Any) -> bool:
        """Whether ``result`` comes from a task of this job."""
        return (result.task_info or {}).get('examol_job') == self.job_id

    def add(self, result: Any) -> bool:
        """Record a result of one of this job's tasks; a failure is resubmitted while retries are left.

        Returns:
            ``True`` when this result finished the job (every task has succeeded or failed).
        Raises:
            ValueError: the result belongs to another job.
        """
        if not self.owns(result):
            raise ValueError(f'Result of task {result.task_id} ({result.method}) does not belong to {self.kind} job '
                             f'{self.job_id}; give it to the job whose owns() is true')
        index = int(result.task_info['examol_index'])
        retry: list[tuple[int, int]] = []
        with self._lock:
            if result.task_info.get('examol_attempt') != self._attempts.get(index) or index not in self._pending:
                logger.warning('Ignoring a stale result for %s task %d (task %s)', self.kind, index, result.task_id)
                return False
            failure = None
            if result.success:
                try:
                    self.results[index] = self._accept(index, proxies.resolve(result.value))
                except Exception as exc:  # a malformed result must not be folded in
                    failure = TaskFailure(index, result.task_id, f'{type(exc).__name__}: {exc}', **self._bounds(index))
            else:
                info = result.failure_info
                failure = TaskFailure(index, result.task_id, info.exception if info else 'unknown error',
                                      info.traceback if info else None, **self._bounds(index))
            if failure is not None and self._attempts[index] <= self.retries:
                logger.warning('%s; resubmitting (attempt %d of %d)', failure, self._attempts[index] + 1,
                               self.retries + 1)
                retry = self._mark([index])  # still pending, as a new attempt
            else:
                if failure is not None:
                    self.failures[index] = failure
                    logger.warning('%s', failure)
                # Last: a thread reading `done` without the lock must find the result or failure stored
                self._pending.discard(index)
            done = self.done
            close = done and not self.failures and self._auto_close
            finished_keys = self._task_keys.pop(index, []) if index in self.results else []
            self._changed.notify_all()
        proxies.evict(finished_keys)
        self._send(retry)
        if close:
            self.close()
        return done

    def _bounds(self, index: int) -> dict[str, int]:
        return {}

    def _accept(self, index: int, value: Any) -> Any:
        return value

    def attempts(self, index: int) -> int:
        """How many times task ``index`` has been submitted."""
        return self._attempts.get(index, 0)

    def finished(self, index: int) -> bool:
        """Task ``index`` has succeeded, or failed after its retries."""
        with self._lock:
            return index in self._attempts and index not in self._pending

    def take(self, index: int) -> tuple[Any, TaskFailure | None]:
        """Remove a finished task's result (or failure) from the job and return ``(value, failure)``.

        For streams, so that memory does not grow with the number of tasks.
        """
        with self._lock:
            if not self.finished(index):
                raise IncompleteJobError(f'{self.kind} task {index} has not finished')
            self._requests.pop(index, None)
            return self.results.pop(index, None), self.failures.pop(index, None)

    @property
    def size(self) -> int:
        """Number of tasks in the job."""
        return len(self._attempts)

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
             progress: Callable[['Job', Any], None] | None = None, *, index: int | None = None) -> bool:
        """Block until every task (or task ``index``) has come back.

        With a client made with ``routed=True`` (in a thinker), a ``@result_processor`` gives the
        results to :meth:`ScorerClient.add_result` and this only waits; otherwise (a script) it
        pulls results off the job's topic itself and routes them to the client's jobs.

        Args:
            timeout: Seconds to wait (``None``: no limit).
            check_alive: Called about every second; raise from it to stop waiting (e.g.
                :meth:`TaskServerHandle.check_alive`, so that a dead task server is noticed).
            progress: Called with ``(job, result)`` for each result pulled (scripts only).
            index: Wait for this task only.
        Returns:
            :attr:`ok` (or, with ``index``, whether that task succeeded).
        Raises:
            TimeoutError: ``timeout`` elapsed first.
        """
        ready = (lambda: self.done) if index is None else (lambda: self.finished(index))
        _wait_until([self], ready, timeout, check_alive, progress)
        return self.ok if index is None else index in self.results

    def wait_for_change(self, timeout: float) -> None:
        """Block until a result reaches this job or ``timeout`` seconds pass (for waiting loops)."""
        with self._changed:
            self._changed.wait(timeout)

    def close(self) -> None:
        """Evict the objects this job shared through ProxyStore and forget the job (automatic on success).

        Call it to abandon a job whose tasks failed; it can no longer be resubmitted then.
        """
        with self._lock:
            keys, self._proxy_keys = self._proxy_keys, []
            keys += [key for task in self._task_keys.values() for key in task]
            self._task_keys = {}
            self._closed = True
        proxies.evict(keys)
        self.client.release(self)

    @property
    def shared_keys(self) -> tuple[proxies.ProxyKey, ...]:
        """``(store name, key)`` of each object this job holds in ProxyStore (evicted when it closes)."""
        return tuple(self._proxy_keys)

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
    """Wait for several jobs, possibly of several clients sharing a topic (see :meth:`Job.wait`)."""
    _wait_until(jobs, lambda: all(job.done for job in jobs), timeout, check_alive, progress)


def _wait_until(jobs: Sequence[Job], ready: Callable[[], bool], timeout: float | None,
                check_alive: Callable[[], None] | None, progress: Callable[[Job, Any], None] | None) -> None:
    deadline = None if timeout is None else time.monotonic() + timeout
    while not ready():
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            pending = {f'{job.kind} {job.job_id[:8]}': job.pending for job in jobs if not job.done}
            raise TimeoutError(f'Tasks still running after {timeout} s: {pending}')
        if check_alive is not None:
            check_alive()
        step = 1.0 if left is None else max(min(1.0, left), 0.01)
        job = next((job for job in jobs if not job.done), jobs[0])
        if job.client.routed:  # a result processor routes results: just wait for one
            job.wait_for_change(step)
        else:
            job.client.pull_result(job.topic, timeout=step, progress=progress, jobs=jobs)
