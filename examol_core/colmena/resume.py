"""Resumable scoring: the progress of ``examol score`` recorded beside its output, and checked on ``--resume``.

After each chunk is appended (and synced) to the hidden ``.part`` files of the scores and
rejects, a :class:`ScoreJournal` atomically rewrites ``.{output}.progress.json`` beside the
output: how many SMILES are done, how long each ``.part`` file was then, the counts, the chunks
that failed, and a fingerprint of the run (model file, SMILES file and the options that shape the
output). A run killed at any moment (Ctrl-C, SIGKILL, the batch job's walltime) leaves files that
:meth:`ScoreJournal.resume` can continue: the ``.part`` files are cut back to the last recorded
chunk and scoring restarts after it, so the finished files are byte for byte those of an
uninterrupted run. Everything here runs on the steering side.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from examol_core.errors import ExamolError

__all__ = ['ResumeError', 'ScoreJournal', 'progress_path', 'file_digest']

FORMAT = 'examol-score-progress'
VERSION = 1


class ResumeError(ExamolError):
    """``--resume`` cannot continue: no interrupted run, or one with other inputs or options."""


def progress_path(output: str | os.PathLike) -> Path:
    """``scores.csv`` → ``.scores.csv.progress.json``: where a run records its progress."""
    output = Path(output)
    return output.with_name(f'.{output.name}.progress.json')


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (read in blocks: a 10-million-line SMILES file takes about a second)."""
    digest = hashlib.sha256()
    with open(path, 'rb') as fp:
        for block in iter(lambda: fp.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def _fingerprint(model: Path, smiles: Path, options: dict[str, Any]) -> dict[str, Any]:
    return {'model': {'path': str(model), 'sha256': file_digest(model)},
            'smiles': {'path': str(smiles), 'bytes': smiles.stat().st_size, 'sha256': file_digest(smiles)},
            'options': json.loads(json.dumps(options, sort_keys=True, default=str))}


def _differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What differs between the fingerprint of the interrupted run and this one, in the user's terms."""
    problems = []
    for what in ('model', 'smiles'):
        if old[what]['sha256'] != new[what]['sha256']:
            name = 'model file' if what == 'model' else 'SMILES file'
            problems.append(f'the {name} differs ({old[what]["path"]} then, {new[what]["path"]} now, with other '
                            'contents)')
    for key in sorted(set(old['options']) | set(new['options'])):
        before, now = old['options'].get(key), new['options'].get(key)
        if before != now:
            problems.append(f'option {key} was {before!r}, now {now!r}')
    return problems


class ScoreJournal:
    """The progress record of one scoring run (see the module docstring).

    Attributes:
        path: The progress file.
        state: What it records: ``done`` (SMILES written), ``chunks``, ``output_bytes`` and
            ``rejects_bytes`` (lengths of the ``.part`` files), ``scored``, ``rejected``,
            ``failed`` and ``failed_chunks``.
        resumed: The run continues an interrupted one.
        discarded: A fresh run replaced the progress of an interrupted one.
    """

    def __init__(self, path: Path, fingerprint: dict[str, Any], state: dict[str, Any], resumed: bool):
        self.path = path
        self.fingerprint = fingerprint
        self.state = state
        self.resumed = resumed
        self.discarded = False

    @classmethod
    def start(cls, model: str | os.PathLike, smiles: str | os.PathLike, output: str | os.PathLike,
              options: dict[str, Any], *, resume: bool = False) -> 'ScoreJournal':
        """Begin a run, or continue the interrupted one when ``resume`` is true.

        Args:
            options: Everything besides the two files that shapes the output (chunk size,
                retries, score options, the rejects file); the task server may differ.
        Raises:
            ResumeError: ``resume`` without a progress file, or with other files or options.
        """
        path = progress_path(output)
        fingerprint = _fingerprint(Path(model), Path(smiles), options)
        if not resume:
            journal = cls(path, fingerprint, {'done': 0, 'chunks': 0, 'output_bytes': 0, 'rejects_bytes': 0,
                                              'scored': 0, 'rejected': 0, 'failed': 0, 'failed_chunks': []},
                          resumed=False)
            journal.discarded = path.is_file()  # an interrupted run of the same output, started afresh
            path.unlink(missing_ok=True)
            return journal
        try:
            saved = json.loads(path.read_text())
        except FileNotFoundError:
            raise ResumeError(f'Nothing to resume for {output}: no progress file {path} (the run finished, or never '
                              'wrote a chunk). Run the command without --resume.') from None
        except (OSError, ValueError) as exc:
            raise ResumeError(f'Cannot read the progress file {path}: {exc}') from None
        if not isinstance(saved, dict) or saved.get('format') != FORMAT or saved.get('version') != VERSION:
            raise ResumeError(f'{path} is not a progress file of this version of examol')
        problems = _differences(saved['fingerprint'], fingerprint)
        if problems:
            raise ResumeError(f'Cannot resume the scoring of {output}: ' + '; '.join(problems) + '. Run the command '
                              'exactly as the interrupted run did, or start again without --resume.')
        return cls(path, fingerprint, saved['state'], resumed=True)

    def skip_done(self, smiles: Iterable[Any]) -> Iterator[Any]:
        """The input without the SMILES that the interrupted run finished (they are read, not scored)."""
        source = iter(smiles)
        for _ in range(self.state['done']):
            if next(source, None) is None:
                raise ResumeError(f'The SMILES file has fewer molecules than the {self.state["done"]} already done')
        yield from source

    def record(self, chunk: Any, positions: tuple[int, int], counts: tuple[int, int, int]) -> None:
        """Record a chunk just appended and synced: ``positions`` are the ``.part`` files' lengths after it."""
        state = self.state
        state['done'] += len(chunk.smiles)
        state['chunks'] += 1
        state['output_bytes'], state['rejects_bytes'] = positions
        state['scored'], state['rejected'], state['failed'] = counts
        if chunk.failure is not None:
            failure = chunk.failure
            state['failed_chunks'].append({'first_line': chunk.lines[0], 'last_line': chunk.lines[-1],
                                           'index': state['chunks'] - 1, 'task_id': failure.task_id,
                                           'exception': failure.exception, 'traceback': failure.traceback})
        self._save()

    def _save(self) -> None:
        tmp = self.path.with_name(self.path.name + '.tmp')
        with open(tmp, 'w', encoding='utf-8') as fp:
            json.dump({'format': FORMAT, 'version': VERSION, 'fingerprint': self.fingerprint, 'state': self.state}, fp)
            fp.flush()
            os.fsync(fp.fileno())
        os.replace(tmp, self.path)

    def finish(self) -> None:
        """The run is complete: its progress file goes."""
        self.path.unlink(missing_ok=True)
