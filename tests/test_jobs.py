"""A job seen from another thread: done only once every result is stored."""
from __future__ import annotations

from types import SimpleNamespace

from examol_core.colmena import proxies
from examol_core.colmena.jobs import Job


class _Client:
    """Just what a job calls on its client: send a task, forget a closed job."""

    queues = SimpleNamespace(proxystore_name={}, proxystore_threshold={})  # no store: arguments go as they are

    def __init__(self):
        self.sent = []

    def send(self, *args, **kwargs):
        self.sent.append((args, kwargs))
        return f'task-{len(self.sent)}'

    def release(self, job):
        pass


def test_a_job_is_not_done_while_its_last_result_is_being_stored(monkeypatch):
    """An agent polling ``done`` from another thread must never find the job done with a result missing."""
    job = Job(_Client(), 'method', 'topic')
    job.submit([(0, ('x',), {}), (1, ('y',), {})])
    seen = []

    def resolve(value):  # runs inside Job.add while the result is being stored
        seen.append((job.done, sorted(job.results)))
        return value

    monkeypatch.setattr(proxies, 'resolve', resolve)
    for index in (0, 1):
        result = SimpleNamespace(task_id=f'task-{index}', method='method', success=True, value=index * 10,
                                 task_info={'examol_job': job.job_id, 'examol_index': index, 'examol_attempt': 1})
        job.add(result)
    assert seen == [(False, []), (False, [0])], 'done before the last result was stored'
    assert job.done and job.results == {0: 0, 1: 10}
