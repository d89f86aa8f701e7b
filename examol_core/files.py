"""How examol writes files: one mode rule, atomic replacement, temporaries that say what they are.

Everything here runs on the steering side, for records (:func:`~examol_core.records.write_records`)
and model files (:func:`~examol_core.modelfile.save_model_file`).

**Mode rule.** Every file examol writes — records, model files, scores — gets the mode any new
file of the user gets: ``0o666`` minus the umask (``0644`` with the usual umask ``022``). None of
them holds a secret; keep them private with the umask (``umask 077``) or the folder's permissions.

**Temporaries.** An output is written to a temporary beside it, named
``.{name}.{host}.{pid}.{random}.examol-partial``, which replaces the output only once complete:
a crash never leaves a truncated output. A temporary left by a process that was killed (SIGKILL,
power loss) is removed by the next write of the same output on the same host, once its process
is gone; any left elsewhere are recognisable by their name.
"""
from __future__ import annotations

import os
import secrets
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from examol_core.errors import DataFileError

__all__ = ['PARTIAL_SUFFIX', 'check_distinct_paths', 'check_output_path', 'clean_stale_partials', 'partial_path', 'replacing']

PARTIAL_SUFFIX = '.examol-partial'
"""Suffix of the temporaries that examol writes beside an output before moving them into place."""


def _host() -> str:
    return socket.gethostname().replace(os.sep, '_') or 'localhost'


def check_output_path(path: str | os.PathLike, *, directory: bool = False) -> Path:
    """Check that ``path`` can be written, before any work is done; create its missing parent folders.

    Raises:
        DataFileError: a parent of ``path`` is an existing file, or ``path`` is an existing
            directory where a file is expected (or the reverse when ``directory``).
    """
    path = Path(path)
    for parent in reversed(path.parents):
        if parent.exists() and not parent.is_dir():
            raise DataFileError(f'Cannot write {path}: {parent} is a file, not a folder')
    if path.is_dir() and not directory:
        raise DataFileError(f'Cannot write {path}: it is a folder; give a file name')
    if path.exists() and not path.is_dir() and directory:
        raise DataFileError(f'Cannot write the folder {path}: a file of that name exists')
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataFileError(f'Cannot create the folder {path.parent} for {path}: {exc.strerror}') from None
    return path


def partial_path(path: str | os.PathLike) -> Path:
    """A new, unused name for a temporary beside ``path`` (see the module docstring)."""
    path = Path(path)
    return path.with_name(f'.{path.name}.{_host()}.{os.getpid()}.{secrets.token_hex(4)}{PARTIAL_SUFFIX}')


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def clean_stale_partials(path: str | os.PathLike) -> list[Path]:
    """Remove temporaries of ``path`` left on this host by processes that no longer exist.

    Returns:
        The temporaries removed.
    """
    path = Path(path)
    prefix, host, removed = f'.{path.name}.', _host(), []
    try:
        candidates = list(path.parent.iterdir())
    except OSError:
        return removed
    for candidate in candidates:
        name = candidate.name
        if not (name.startswith(prefix) and name.endswith(PARTIAL_SUFFIX)):
            continue
        fields = name[len(prefix):-len(PARTIAL_SUFFIX)].rsplit('.', 2)
        if len(fields) != 3 or fields[0] != host or not fields[1].isdigit() or _process_exists(int(fields[1])):
            continue
        if candidate.is_dir() and not candidate.is_symlink():
            shutil.rmtree(candidate, ignore_errors=True)
        else:
            candidate.unlink(missing_ok=True)
        removed.append(candidate)
    return removed


@contextmanager
def replacing(path: str | os.PathLike, *, directory: bool = False) -> Iterator[Path]:
    """Write ``path`` atomically: yield a new temporary beside it, which replaces ``path`` on success.

    The temporary is an empty file (or folder, when ``directory``) created with the mode rule of
    this module; it is removed if the block raises. Stale temporaries of ``path`` are removed first.

    Raises:
        DataFileError: ``path`` cannot be written (see :func:`check_output_path`).
    """
    path = check_output_path(path, directory=directory)
    clean_stale_partials(path)
    tmp = partial_path(path)
    if directory:
        tmp.mkdir(mode=0o777)
    else:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # the umask applies, as for any new file
    try:
        yield tmp
        if directory and path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


def _same_file(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def check_distinct_paths(inputs: dict[str, str | os.PathLike], outputs: dict[str, str | os.PathLike]) -> None:
    """Refuse an output that is one of the inputs or another output, before any work is done.

    Args:
        inputs: What each input is called (e.g. ``'the SMILES file (--smiles)'``) → its path.
        outputs: The same for outputs.
    Raises:
        DataFileError: naming both roles and the path, e.g. "--output names the SMILES file (--smiles)".
    """
    outs = [(name, Path(p)) for name, p in outputs.items() if p is not None]
    for i, (name, path) in enumerate(outs):
        for other, source in inputs.items():
            if source is not None and _same_file(path, Path(source)):
                raise DataFileError(f'{name} is {other}: {path} would be replaced; choose another output')
        for other, second in outs[i + 1:]:
            if _same_file(path, second):
                raise DataFileError(f'{name} and {other} are the same file ({path}); give them different names')
