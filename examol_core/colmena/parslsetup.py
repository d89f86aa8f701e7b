"""Parsl from examol's steering process: the environment, configurations, and quiet logs.

The default runs local workers (a ``HighThroughputExecutor``); for a cluster, a Python file
defining ``config`` (e.g. ``examples/parsl_slurm.py``). Everything here runs on the steering side.
"""
from __future__ import annotations

import logging
import os
import runpy
import sys
import tempfile
from pathlib import Path
from typing import Any

from examol_core.errors import ExamolError

__all__ = ['prepare_environment', 'default_parsl_config', 'load_parsl_config', 'server_capacity', 'quiet_parsl']


def prepare_environment() -> None:
    """Make Parsl usable from this process: put the environment's ``bin/`` on ``PATH``, quiet its logs.

    Parsl's ``HighThroughputExecutor`` starts its interchange and workers as scripts found on
    ``PATH``; run from a virtual environment that is not activated, it would otherwise fail
    (``FileNotFoundError: ... interchange.py``) and the thinker would wait forever.
    """
    bindir = os.path.dirname(sys.executable)
    path = os.environ.get('PATH', '')
    if bindir not in path.split(os.pathsep):
        os.environ['PATH'] = bindir + (os.pathsep + path if path else '')
    logging.getLogger('parsl').setLevel(logging.WARNING)


STRATEGY_PERIOD = 0.2
"""Seconds between Parsl's job-status polls in :func:`default_parsl_config`.

Parsl launches even its initial block of workers at the first poll, not at start: with Parsl's
default of 5 s, every run waited 5 s before its workers were launched. A poll with
``strategy='none'`` costs a few function calls (the provider's status is still polled every 5 s)."""


def default_parsl_config(workers: int = 1, run_dir: str | os.PathLike | None = None, *,
                         heartbeat_period: int = 5, heartbeat_threshold: int = 30) -> Any:
    """A Parsl configuration running ``workers`` local worker processes (``HighThroughputExecutor``).

    Args:
        workers: Worker processes on this machine.
        run_dir: Where Parsl writes its logs; a new temporary directory if omitted.
        heartbeat_period: Seconds between liveness checks; a killed worker is reported
            (``WorkerLost``) after about this long.
        heartbeat_threshold: Seconds without a heartbeat before a whole worker pool is declared lost.
    """
    from parsl.config import Config
    from parsl.executors import HighThroughputExecutor
    from parsl.providers import LocalProvider

    if workers < 1:
        raise ValueError(f'workers must be at least 1; got {workers}')
    run_dir = str(run_dir) if run_dir is not None else tempfile.mkdtemp(prefix='examol-parsl-')
    return Config(
        executors=[HighThroughputExecutor(
            label='examol_local', max_workers_per_node=workers, cores_per_worker=1e-6,
            address='127.0.0.1', heartbeat_period=heartbeat_period, heartbeat_threshold=heartbeat_threshold,
            provider=LocalProvider(init_blocks=1, min_blocks=1, max_blocks=1),
        )],
        run_dir=run_dir,
        strategy='none',
        strategy_period=STRATEGY_PERIOD,
    )


def load_parsl_config(path: str | os.PathLike) -> Any:
    """Load a Parsl configuration from a Python file that defines ``config`` (a ``parsl.config.Config``).

    The file is executed as Python: only use files you trust (it is your own cluster setup).

    Raises:
        ExamolError: missing file, an error while executing it, or no ``config`` of the right type.
    """
    from parsl.config import Config

    path = Path(path)
    if not path.is_file():
        raise ExamolError(f'Parsl configuration file {path} does not exist')
    try:
        namespace = runpy.run_path(str(path), run_name='examol_parsl_config')
    except Exception as exc:
        raise ExamolError(f'Running the Parsl configuration file {path} raised {type(exc).__name__}: {exc}') from exc
    config = namespace.get('config')
    if not isinstance(config, Config):
        found = 'nothing' if config is None else type(config).__name__
        raise ExamolError(f'{path} must define `config = parsl.config.Config(...)`; found {found}. '
                          'See examples/parsl_slurm.py.')
    return config


def server_capacity(workers: int = 1, parsl_config: Any = None) -> int:
    """How many tasks a task server can run at once (at least 1), to size a window of tasks in flight.

    Args:
        workers: Local workers (used without ``parsl_config``).
        parsl_config: A ``parsl.config.Config``: its executors' workers per node x nodes x blocks.
    """
    if parsl_config is None:
        return max(int(workers), 1)
    total = 0
    for executor in parsl_config.executors:
        provider = getattr(executor, 'provider', None)
        per_node = getattr(executor, 'max_workers_per_node', None) or getattr(executor, 'max_threads', None) or 1
        nodes = getattr(provider, 'nodes_per_block', 1) or 1
        blocks = max(getattr(provider, 'max_blocks', 1) or 1, getattr(provider, 'init_blocks', 1) or 1)
        total += int(per_node) * int(nodes) * int(blocks)
    return max(total, 1)


class _WarningsOnly(logging.Handler):
    """Pass Parsl's warnings and errors on to the root logger's handlers, each kind once and on one line.

    Parsl's log file keeps everything. Once its executor has failed (every worker killed), Parsl
    logs a traceback for every task: on the console that was over 100,000 lines.
    """

    def __init__(self, level: int = logging.WARNING):
        super().__init__(level)
        self._seen: set[tuple[str, str]] = set()

    def emit(self, record: logging.LogRecord) -> None:
        kind = (record.name, str(record.msg))
        if kind in self._seen:
            return
        self._seen.add(kind)
        lines = [line.strip() for line in record.getMessage().splitlines() if line.strip()]
        text = (lines[0] if lines else '')[:200] + (' ...' if len(lines) > 1 else '')
        logging.getLogger().handle(logging.makeLogRecord({
            **record.__dict__, 'msg': f'{text} (Parsl; further messages of this kind only in its log)', 'args': None,
            'exc_info': None, 'exc_text': None}))


def quiet_parsl() -> None:
    """Stop Parsl's DEBUG records from reaching the user's console (Parsl sets its logger to DEBUG on load)."""
    parsl_logger = logging.getLogger('parsl')
    parsl_logger.propagate = False
    if not any(isinstance(h, _WarningsOnly) for h in parsl_logger.handlers):
        handler = _WarningsOnly(level=logging.WARNING)
        parsl_logger.addHandler(handler)
