"""Processes a task server leaves behind, and a server whose steering process has gone.

Parsl's interchange, worker pool and workers are detached from the task server, so a server
that dies (SIGKILL, crash) cannot stop them: every process a server starts carries
``RUN_MARKER`` in its environment, and :func:`end_marked` ends what is left when the run ends.
A server whose steering process was killed notices it (:func:`watch_parent`) and stops its
executor (:func:`abandon_parsl`). Linux ``/proc`` is read; elsewhere nothing is found.
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


class Orphaned(SystemExit):
    """Raised in a task server whose steering process has gone."""


def raise_orphaned(signum: int, frame: Any) -> None:
    raise Orphaned(1)


def abandon_parsl() -> None:
    """In an orphaned task server: stop Parsl's executor (interchange, workers, batch jobs) without waiting for tasks."""
    if 'parsl' not in sys.modules:
        return
    import parsl

    try:
        parsl.dfk().cleanup()
    except Exception:  # no Parsl run in this server (LocalTaskServer), or one already stopped
        logger.debug('No Parsl executor to stop', exc_info=True)


def watch_parent(parent: int, period: float = 0.5) -> None:
    """In a task server: SIGTERM itself once the steering process ``parent`` has died (it is then re-parented)."""
    while os.getppid() == parent:
        time.sleep(period)
    os.kill(os.getpid(), signal.SIGTERM)


def children_of(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (Linux /proc; empty elsewhere)."""
    children = []
    for stat in Path('/proc').glob('[0-9]*/stat'):
        try:
            fields = stat.read_text().rsplit(')', 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


RUN_MARKER = 'EXAMOL_TASK_SERVER'
"""Environment variable marking every process a task server starts (Parsl's interchange, worker pool and
workers), so that they can be found and ended with the run, even once re-parented after the server died."""


def marked_processes(token: str, group: int | None = None) -> list[int]:
    """Processes of this machine whose environment carries ``RUN_MARKER=token``, or in process group ``group``.

    The group catches what the environment cannot: Parsl's interchange renames itself
    (``setproctitle``), which overwrites what ``/proc/PID/environ`` shows. Task servers lead their
    own process group (:func:`lead_process_group`). Linux /proc; none elsewhere.
    """
    needle = f'{RUN_MARKER}={token}'.encode()
    found = []
    for proc in Path('/proc').glob('[0-9]*'):
        try:
            if group is not None and int((proc / 'stat').read_text().rsplit(')', 1)[1].split()[2]) == group:
                found.append(int(proc.name))
            elif needle in (proc / 'environ').read_bytes().split(b'\0'):
                found.append(int(proc.name))
        except (OSError, ValueError, IndexError):  # gone, or another user's
            continue
    return [pid for pid in found if pid != os.getpid()]


def lead_process_group() -> None:
    """In a task server: lead a process group of its own, which everything it starts joins (see :func:`end_marked`)."""
    try:
        os.setpgid(0, 0)
    except OSError:  # already a group leader
        pass


def end_marked(token: str, grace: float = 5., group: int | None = None) -> None:
    """End the processes a task server started that are still running: SIGTERM, then SIGKILL after ``grace`` s."""
    pids = marked_processes(token, group)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        deadline = time.monotonic() + grace
        while pids and time.monotonic() < deadline:
            time.sleep(0.1)
            pids = [pid for pid in pids if Path(f'/proc/{pid}').exists() and not _zombie(pid)]
        if not pids:
            return
        logger.warning('Ending %d process(es) left by the task server: %s', len(pids), pids)


def _zombie(pid: int) -> bool:
    try:
        return Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[0] == 'Z'
    except (OSError, IndexError):
        return True
