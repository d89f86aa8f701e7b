"""Every process a task server starts ends with the run, even when the task server itself is killed."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from examol_core.colmena import ScorerClient, TaskServerDied, make_methods, start_task_server
from examol_core.colmena.processes import children_of, marked_processes
from examol_core.testing import FIDELITIES, make_reference_records

pytestmark = pytest.mark.slow

SUPPORT = [Path(__file__).parent / 'toy_plugin', Path(__file__).parent / 'colmena_support']


def _alive(pid: int) -> bool:
    try:
        return Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[0] != 'Z'
    except (OSError, IndexError):
        return False


def test_killing_the_task_server_leaves_no_process_behind(savetoy, monkeypatch):
    records = make_reference_records()
    scorer = savetoy.SaveableLookupScorer()
    inputs, outputs = scorer.transform_inputs(records), scorer.transform_outputs(records, FIDELITIES[-1])
    methods = make_methods(scorer)
    monkeypatch.setenv('PYTHONPATH', os.pathsep.join([*map(str, SUPPORT), os.environ.get('PYTHONPATH', '')]))
    started: list[int] = []
    with pytest.raises(TaskServerDied):
        with start_task_server(methods, workers=1, shutdown_timeout=10) as server:
            job = ScorerClient(server.queues, scorer, methods).submit_retrain(savetoy.LookupModel(), inputs, outputs)
            assert job.wait(timeout=300, check_alive=server.check_alive), job.failures
            # Parsl's interchange is a child of the server, and renames itself (its environment is then unreadable)
            started = sorted(set(marked_processes(server.marker)) | set(children_of(server.server.pid)))
            assert len(started) >= 3, 'the interchange, the worker pool and its worker'
            os.kill(server.server.pid, signal.SIGKILL)
            server.server.join(timeout=30)
            server.check_alive()
    deadline = time.monotonic() + 20  # a killed process can take a moment to be reaped on a busy machine
    while any(_alive(pid) for pid in started) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not [pid for pid in started if _alive(pid)], 'no process of the dead task server is left'
