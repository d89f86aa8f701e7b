"""A local task server on a thread of the steering process: the quick path of ``examol score --local``.

Colmena's ``LocalTaskServer`` normally runs in a child process that examol spawns (a fresh
interpreter: it imports Colmena, the scorer's plugin and its libraries again, and unpickles the
model once more, seconds before the first task in a 300-molecule run). On a thread of the
steering process, it finds all of that already imported and loaded, and nothing is left behind
when the command ends. The price: a scorer that crashes the interpreter takes the steering process
with it, and a stuck task cannot be terminated, only abandoned. Runs on the steering side.
"""
from __future__ import annotations

import copy
import logging
import threading
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ['InProcessTaskServer']


class InProcessTaskServer(threading.Thread):
    """Colmena's local task server, with ``workers`` threads, on a thread of this process.

    It offers what :func:`~examol_core.colmena.start_task_server` uses of a server process
    (``start``, ``is_alive``, ``join``, ``exitcode``, ``terminate``; ``pid`` is ``None``).

    Args:
        queues: The run's queues; the server uses a copy with the server's role (the same pipes).
        methods: Colmena methods to serve.
        workers: Threads running tasks.
    """

    pid = None

    def __init__(self, queues: Any, methods: list[Any], workers: int):
        super().__init__(name='examol-in-process-task-server', daemon=True)
        from examol_core.colmena.config import _task_server_classes

        _, local_server = _task_server_classes()
        # A copy: the role (server here, client for the thinker) is per queue object; the pipes are shared
        self._server = local_server(copy.copy(queues), methods, threads=True, num_workers=workers)
        self.exitcode: int | None = None

    def run(self) -> None:
        from colmena.task_server.local import LocalTaskServer

        try:
            # Colmena's own run, not the steered one: that one is for a server process (signals, process group)
            LocalTaskServer.run(self._server)
        except BaseException:
            self.exitcode = 1
            logger.exception('The in-process task server failed')
            raise
        self.exitcode = 0

    def terminate(self) -> None:
        """A thread cannot be stopped from outside: its running tasks are abandoned when the process ends."""
        logger.warning('The in-process task server is still running tasks; they are abandoned')
