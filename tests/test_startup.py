"""Start-up and shutdown of task servers waste no time: the cuts of issue 9 item 6 stay cut."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.slow


def test_local_server_marks_only_its_own_processes():
    """Only the local server's process group carries the run's marker: nothing of the steering process's own.

    A fresh interpreter, since multiprocessing's resource tracker (a child of the steering process
    that ignores SIGTERM) starts once per process: started under the marker, it was taken for a
    leftover of the server, and every ``--local`` run waited 5 s at exit before killing it.
    """
    code = textwrap.dedent('''
        import json, logging, math, os, sys
        logging.basicConfig(level=logging.WARNING, stream=sys.stdout, format='LOG %(message)s')
        from examol_core.colmena import start_task_server
        from examol_core.colmena.processes import marked_processes

        def group(pid):
            return int(open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()[2])

        with start_task_server([math.sqrt], local=True, use_proxystore=False) as server:
            server.queues.send_inputs(4.0, method='sqrt', topic='score')
            result = server.queues.get_result(topic='score', timeout=120)
            assert result.success, result.failure_info
            groups = {pid: group(pid) for pid in marked_processes(server.marker)}
            print(json.dumps({'server': server.server.pid, 'groups': groups}))
    ''')
    run = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    found = json.loads(next(line for line in lines if line.startswith('{')))
    assert found['groups'], 'the server itself carries the marker'
    assert set(found['groups'].values()) == {found['server']}, found
    assert not [line for line in lines if line.startswith('LOG')], 'nothing was left for end_marked to kill'
