"""Execution configurations: queues, ProxyStore, Parsl configurations and a task server to go.

The default runs on this machine: Colmena pipe queues and a Parsl ``HighThroughputExecutor``
with local workers. For several nodes, give a Parsl configuration file (a Python file that
defines ``config``, e.g. ``examples/parsl_slurm.py``) and Redis-backed queues
(``redis_url='redis://host:6379'``). Everything here runs on the steering side.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from examol_core.colmena.parslsetup import (
    default_parsl_config,
    load_parsl_config,
    prepare_environment,
    quiet_parsl,
    server_capacity,
)
from examol_core.colmena.processes import (
    RUN_MARKER,
    Orphaned,
    abandon_parsl,
    children_of,
    end_marked,
    lead_process_group,
    raise_orphaned,
    watch_parent,
)
from examol_core.errors import ExamolError

logger = logging.getLogger(__name__)

DEFAULT_TOPICS = ('train', 'score')
"""Topics of the queues made by :func:`make_queues` unless told otherwise."""

DEFAULT_PROXY_THRESHOLD = 100_000
"""Objects larger than this (bytes, serialised) travel through ProxyStore rather than the queues."""

__all__ = ['DEFAULT_TOPICS', 'DEFAULT_PROXY_THRESHOLD', 'TaskServerDied', 'prepare_environment', 'default_parsl_config',
           'load_parsl_config', 'server_capacity', 'make_store', 'make_queues', 'redis_address', 'TaskServerHandle', 'start_task_server']


class TaskServerDied(ExamolError, RuntimeError):
    """The task server process exited while tasks were still expected."""


def redis_address(url: str) -> tuple[str, int]:
    """Host and port of a ``redis://host:port`` URL (a bare ``host:port`` works too)."""
    parsed = urlparse(url if '://' in url else f'redis://{url}')
    if parsed.scheme not in ('redis', ''):
        raise ValueError(f'Unsupported Redis URL {url!r}: use redis://host:port')
    return parsed.hostname or '127.0.0.1', parsed.port or 6379


def make_store(name: str | None = None, *, directory: str | os.PathLike | None = None,
               redis_url: str | None = None) -> Any:
    """Create and register a ProxyStore ``Store`` for one run.

    Workers rebuild the store from its configuration, which Colmena sends with each task, so
    the store must be reachable from them: a directory on a shared file system (the default,
    in a new temporary directory), or a Redis server (``redis_url``).

    Returns:
        The registered store; close it (``store.close()``) at the end of the run.
    """
    from proxystore.store import Store

    name = name or f'examol-{uuid.uuid4().hex[:12]}'
    if redis_url is not None:
        from proxystore.connectors.redis import RedisConnector

        host, port = redis_address(redis_url)
        connector = RedisConnector(host, port)
    else:
        from proxystore.connectors.file import FileConnector

        directory = directory if directory is not None else tempfile.mkdtemp(prefix='examol-proxystore-')
        connector = FileConnector(str(directory))
    return Store(name, connector, register=True)


def make_queues(topics: Iterable[str] = DEFAULT_TOPICS, *, redis_url: str | None = None, store: Any = None,
                proxy_threshold: int | None = DEFAULT_PROXY_THRESHOLD, prefix: str | None = None) -> Any:
    """Colmena queues using pickle serialisation (arrays and pipelines do not fit in JSON).

    Args:
        topics: Topics to create (``default`` is always added by Colmena).
        redis_url: Use Redis queues on this server (multi-node runs); pipe queues otherwise.
        store: A registered ProxyStore store (:func:`make_store`); ``None`` disables ProxyStore.
        proxy_threshold: Size in bytes above which task inputs and results go through ``store``.
        prefix: Name of the Redis queues (a fresh one by default, so runs do not collide).
    """
    kwargs: dict[str, Any] = {'serialization_method': 'pickle', 'keep_inputs': False}
    if store is not None and proxy_threshold is not None:
        kwargs.update(proxystore_name=store.name, proxystore_threshold=int(proxy_threshold))
    topics = list(topics)
    if redis_url is not None:
        from colmena.queue.redis import RedisQueues

        host, port = redis_address(redis_url)
        return RedisQueues(topics=topics, hostname=host, port=port, prefix=prefix or f'examol-{uuid.uuid4().hex}',
                           **kwargs)
    from colmena.queue.python import PipeQueues

    return PipeQueues(topics=topics, **kwargs)


OVERRIDDEN = {'run': ['self'], 'perform_callback': ['self', 'future', 'result', 'topic']}
"""Public methods of Colmena's task servers that the classes below extend, with their parameters.

A test compares them with the installed Colmena, so that a change upstream is noticed."""


def _task_server_classes() -> tuple[type, type]:
    """Colmena's Parsl and local task servers, adjusted for running under examol's steering process.

    Parsl's logging is quieted in the steering process before the server forks (:func:`~examol_core.colmena.parslsetup.quiet_parsl`),
    which the forked server inherits: no private method of Colmena is overridden.
    """
    from colmena.task_server.local import LocalTaskServer
    from colmena.task_server.parsl import ParslTaskServer

    class _SteeredMixin:
        def run(self) -> None:
            # Ctrl-C reaches the whole process group: let the steering process alone handle it (it sends
            # the kill signal and drains results), so the server and its children shut down cleanly
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            lead_process_group()  # so that what it starts can be found even once re-parented
            # A steering process killed outright (SIGKILL, walltime) cannot stop the server: the server
            # notices it is orphaned (or is sent SIGTERM) and shuts its executor down (Parsl workers, batch jobs)
            signal.signal(signal.SIGTERM, raise_orphaned)
            threading.Thread(target=watch_parent, args=(os.getppid(),), daemon=True, name='examol-parent').start()
            try:
                super().run()
            except Orphaned:
                logger.warning('The steering process is gone: stopping the task server')
                abandon_parsl()
                # End now, running tasks' threads included (nobody will read their results): the default SIGTERM
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                os.kill(os.getpid(), signal.SIGTERM)

    class SteeredParslTaskServer(_SteeredMixin, ParslTaskServer):
        """Colmena's Parsl task server, leaving Ctrl-C to the steering process."""

    class SteeredLocalTaskServer(_SteeredMixin, LocalTaskServer):
        """Colmena's local task server (threads in a child process), safe with several workers.

        Colmena sends each result from the thread that finished it; concurrent writes to the result
        pipe interleave and corrupt the queue, so results are sent one at a time here.
        """

        def perform_callback(self, future, result, topic):
            lock = self.__dict__.setdefault('_examol_send_lock', threading.Lock())
            with lock:
                super().perform_callback(future, result, topic)

    return SteeredParslTaskServer, SteeredLocalTaskServer


def _run_local_server(queues: Any, methods: list[Any], workers: int, store_config: Any) -> None:
    """Run Colmena's local task server in this process: the target of a *spawned* child process.

    Spawned, never forked: the steering process may already run threads (TensorFlow starts its
    thread pools as soon as a network is loaded), and a forked child inherits their locks without
    the threads, so its first TensorFlow call waits forever (``examol score --local`` with an NFP
    model hung with no CPU use). The ProxyStore store is registered before the server's threads
    start, as a forked child would have inherited it; otherwise two threads resolving their first
    proxy at once both register it and one fails.
    """
    if store_config is not None:
        from proxystore.store import Store, get_store

        if get_store(store_config.name) is None:
            Store.from_config(store_config.model_copy(update={'auto_register': True}))
    _, local_server = _task_server_classes()
    local_server(queues, methods, threads=True, num_workers=workers).run()


@dataclass
class TaskServerHandle:
    """A running task server and the client side of its queues."""

    queues: Any
    server: Any
    store: Any = None
    run_dir: Path | None = None
    marker: str = ''
    """Value of ``EXAMOL_TASK_SERVER`` in the environment of every process the server starts."""

    def check_alive(self) -> None:
        """Raise :class:`TaskServerDied` if the task-server process has exited."""
        if self.server is not None and not self.server.is_alive():
            where = f'; Parsl logs are in {self.run_dir}' if self.run_dir else ''
            raise TaskServerDied(f'The task server exited (code {self.server.exitcode}) while tasks were pending{where}')


def _stop(server: Any, queues: Any, timeout: float) -> None:
    """Stop a task server: kill signal, then drain results until it exits; terminate it after ``timeout``.

    Draining matters: results nobody reads fill the pipes, the server's callbacks block on them,
    and it would never finish the tasks it waits for before exiting.
    """
    from colmena.exceptions import TimeoutException

    try:
        queues.send_kill_signal()
    except Exception:  # the queue may be gone already; terminate below
        pass
    deadline = time.monotonic() + timeout
    pipes = type(queues).__name__ != 'RedisQueues'  # Redis holds unread results without blocking the server
    while server.is_alive() and time.monotonic() < deadline:
        server.join(timeout=0.2)
        for topic in queues.topics if pipes else ():
            try:
                while True:
                    queues.get_result(topic=topic, timeout=0.01)
            except (TimeoutException, Exception):  # nothing left, or a result we cannot read: drop it
                pass
    if server.is_alive():
        logger.warning('Task server did not stop within %.0f s; terminating it', timeout)
        children = children_of(server.pid)  # e.g. Parsl's interchange, which would otherwise outlive it
        server.terminate()
        server.join(timeout=10)
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass


@contextmanager
def start_task_server(methods: Iterable[Any], *, workers: int = 1, parsl_config: Any = None,
                      redis_url: str | None = None, topics: Iterable[str] = DEFAULT_TOPICS,
                      proxy_threshold: int | None = DEFAULT_PROXY_THRESHOLD, use_proxystore: bool = True,
                      local: bool = False, in_process: bool = False, keep_run_dir: bool = False,
                      shutdown_timeout: float = 60) -> Iterator[TaskServerHandle]:
    """Start a Colmena task server for ``methods`` and yield its handle; stop it on exit.

    Args:
        methods: Functions to serve (e.g. ``make_methods(scorer)``, or several scorers' methods).
        workers: Local worker processes of the default Parsl configuration.
        parsl_config: A ``parsl.config.Config``, or the path of a file defining ``config``;
            the default is :func:`default_parsl_config` with ``workers`` workers.
        redis_url: Use Redis queues (and a Redis ProxyStore) on this server instead of pipes.
        topics: Queue topics.
        proxy_threshold: Size in bytes above which objects travel through ProxyStore.
        use_proxystore: Set ``False`` to send everything through the queues.
        local: Use Colmena's ``LocalTaskServer`` (threads in a spawned child process) instead of Parsl:
            no start-up cost, for tests and quick runs.
        in_process: With ``local``, run the local server on a thread of this process instead
            (:class:`~examol_core.colmena.inprocess.InProcessTaskServer`): no second interpreter to
            start, no second copy of the scorer's libraries and model; ``examol score --local`` uses it.
        keep_run_dir: Keep Parsl's temporary run directory (it is kept anyway if the run fails).
        shutdown_timeout: Seconds to wait for the server to finish its tasks on exit.
    """
    token = uuid.uuid4().hex
    prepare_environment()
    methods = list(methods)
    store = make_store(redis_url=redis_url) if use_proxystore else None
    queues = None
    server = None
    run_dir = None
    failed = False
    try:
        queues = make_queues(topics, redis_url=redis_url, store=store, proxy_threshold=proxy_threshold)
        if local and in_process:
            from examol_core.colmena.inprocess import InProcessTaskServer

            server = InProcessTaskServer(queues, methods, workers)
        elif local:
            from colmena.task_server.base import convert_to_colmena_method

            # Named Colmena methods: multiprocessing pickles a functools.partial without the name given to it
            named = [convert_to_colmena_method(m) for m in methods]
            server = multiprocessing.get_context('spawn').Process(
                target=_run_local_server, args=(queues, named, workers, None if store is None else store.config()),
                name='examol-local-task-server')
        else:
            if parsl_config is None:
                parsl_config = default_parsl_config(workers)
                run_dir = Path(parsl_config.run_dir)
            elif isinstance(parsl_config, (str, os.PathLike)):
                parsl_config = load_parsl_config(parsl_config)
            quiet_parsl()  # before the fork: Parsl's DEBUG records stay in its run directory
            parsl_server, _ = _task_server_classes()
            server = parsl_server(methods, queues, parsl_config)
        if local and not in_process:
            # A spawned process needs multiprocessing's resource tracker, a child of *this* process that lives
            # as long as it does and ignores SIGTERM: started under the marker, end_marked would wait out its
            # grace period on it and SIGKILL it at every exit (5 s of a 300-molecule --local run)
            from multiprocessing import resource_tracker

            resource_tracker.ensure_running()
        os.environ[RUN_MARKER] = token  # inherited by the server and every process it starts (not ours after)
        try:
            server.start()
        finally:
            os.environ.pop(RUN_MARKER, None)
        queues.set_role('client')
        handle = TaskServerHandle(queues=queues, server=server, store=store, run_dir=run_dir, marker=token)
        yield handle
    except BaseException:
        failed = True
        raise
    finally:
        if server is not None and server.is_alive():
            _stop(server, queues, shutdown_timeout)
        end_marked(token, group=server.pid if server is not None else None)  # what a server that died (SIGKILL, crash) left behind: interchange, worker pool, workers
        if store is not None:
            store.close()
        if run_dir is not None and not failed and not keep_run_dir:
            shutil.rmtree(run_dir, ignore_errors=True)
        elif run_dir is not None and failed:
            logger.warning('Parsl logs of the failed run are in %s', run_dir)
