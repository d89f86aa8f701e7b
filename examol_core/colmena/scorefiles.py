"""The files of ``examol score``: a SMILES file read once, and the CSV files its scores go to.

:class:`SmilesFile` yields ``(line number, SMILES)`` pairs and knows how far it has read, so a
progress bar needs no second pass over the file. :class:`ScoreWriter` appends each finished
chunk, in order, to the scores and rejects files: memory stays bounded and what is written is
always a prefix of the final output.
"""
from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from examol_core.errors import ExamolError

__all__ = ['SmilesFile', 'read_smiles', 'ScoreWriter', 'default_rejects_path']


class SmilesFile:
    """A ``.smi`` file read once, line by line; iterate over it for ``(line number, SMILES)``.

    The SMILES is the first field of a line, separated by whitespace or a comma (a SMILES never
    holds one); blank lines and lines starting with ``#`` are skipped. Line numbers start at 1, as editors show them.

    Attributes:
        size: Bytes in the file.
        bytes_read: Bytes read so far.
        count: SMILES yielded so far.
        exhausted: The whole file has been read.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f'SMILES file {self.path} does not exist')
        self.size = self.path.stat().st_size
        self.bytes_read = 0
        self.count = 0
        self.exhausted = False

    def __iter__(self) -> Iterator[tuple[int, str]]:
        with open(self.path, 'rb') as fp:
            for number, raw in enumerate(fp, 1):
                self.bytes_read += len(raw)
                try:
                    text = raw.decode('utf-8').strip()
                except UnicodeDecodeError as exc:
                    raise ExamolError(f'{self.path}, line {number}: not UTF-8 text ({exc.reason})') from None
                if not text or text.startswith('#'):
                    continue
                self.count += 1
                yield number, text.split()[0].split(',')[0]  # SMILES hold no comma: CSV rows work too
        self.exhausted = True

    def estimated_total(self) -> int | None:
        """SMILES in the file: exact once it is read, else extrapolated from the bytes read so far."""
        if self.exhausted:
            return self.count
        if not self.bytes_read:
            return None
        return max(self.count, round(self.count * self.size / self.bytes_read))


def read_smiles(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    """``(line number, SMILES)`` of each molecule of a ``.smi`` file (see :class:`SmilesFile`)."""
    return iter(SmilesFile(path))


def default_rejects_path(output: str | os.PathLike) -> Path:
    """``scores.csv`` → ``scores.rejects.csv``: where rejected molecules go unless told otherwise."""
    output = Path(output)
    return output.with_name(output.name.removesuffix('.csv') + '.rejects.csv')


def _format(value: float) -> str:
    return repr(float(value))


class ScoreWriter:
    """Write scored chunks, in order, to ``output`` (``line,smiles,score[,std]``) and ``rejects`` (``line,smiles,reason``).

    Rows go to hidden ``.part`` files next to the targets, flushed after each chunk, which
    :meth:`commit` renames into place. With a ``journal``
    (:class:`~examol_core.colmena.resume.ScoreJournal`), each chunk is also synced to disk and
    recorded, and a run that stops before :meth:`commit` keeps its ``.part`` files for ``--resume``
    (a resumed journal reopens them, cut back to its last recorded chunk); without one, leaving the
    ``with`` block without committing removes them.

    Attributes:
        scored, rejected, failed: Molecules written so far to each category.
    """

    def __init__(self, output: str | os.PathLike, rejects: str | os.PathLike | None = None, *, ensemble: bool,
                 journal: Any = None):
        self.output = Path(output)
        self.rejects = Path(rejects) if rejects is not None else default_rejects_path(self.output)
        self.ensemble = ensemble
        self.journal = journal
        self.scored = self.rejected = self.failed = 0
        self._parts = [p.with_name(f'.{p.name}.part') for p in (self.output, self.rejects)]
        self._files: list[Any] = []

    def __enter__(self) -> 'ScoreWriter':
        for path in (self.output, self.rejects):
            path.parent.mkdir(parents=True, exist_ok=True)
        if self.journal is not None and self.journal.resumed:
            self._reopen()
            return self
        self._files = [open(p, 'w', encoding='utf-8', newline='') for p in self._parts]
        self._scores, self._rejects = (csv.writer(f) for f in self._files)
        self._scores.writerow(['line', 'smiles', 'score', 'std'] if self.ensemble else ['line', 'smiles', 'score'])
        self._rejects.writerow(['line', 'smiles', 'reason'])
        return self

    def _reopen(self) -> None:
        """Continue the ``.part`` files of an interrupted run, cut back to the journal's last chunk."""
        from examol_core.colmena.resume import ResumeError

        state = self.journal.state
        for part, size in zip(self._parts, (state['output_bytes'], state['rejects_bytes']), strict=True):
            if not part.is_file() or part.stat().st_size < size:
                raise ResumeError(f'Cannot resume: {part} is missing or shorter than recorded in {self.journal.path}')
        self._files = [open(p, 'r+', encoding='utf-8', newline='') for p in self._parts]
        for file, size in zip(self._files, (state['output_bytes'], state['rejects_bytes']), strict=True):
            file.truncate(size)
            file.seek(size)
        self._scores, self._rejects = (csv.writer(f) for f in self._files)
        self.scored, self.rejected, self.failed = state['scored'], state['rejected'], state['failed']

    def write(self, chunk: Any) -> None:
        """Append a :class:`~examol_core.colmena.ChunkOutcome`: its scores, its rejects, or all of it as failed."""
        pairs = zip(chunk.lines, chunk.smiles, strict=True)
        if chunk.failure is not None:
            reason = f'task failed after {chunk.attempts} attempt(s): {chunk.failure.summary}'
            self._rejects.writerows([n, s, reason] for n, s in pairs)
            self.failed += len(chunk.smiles)
        else:
            reasons = dict(chunk.rejects)
            for i, (n, s) in enumerate(pairs):
                if i in reasons:
                    self._rejects.writerow([n, s, reasons[i]])
                elif self.ensemble:
                    self._scores.writerow([n, s, _format(chunk.mean[i]), _format(chunk.std[i])])
                else:
                    self._scores.writerow([n, s, _format(chunk.mean[i])])
            self.rejected += len(reasons)
            self.scored += len(chunk.smiles) - len(reasons)
        for file in self._files:
            file.flush()
        if self.journal is not None:
            for file in self._files:
                os.fsync(file.fileno())
            self.journal.record(chunk, tuple(file.tell() for file in self._files),
                                (self.scored, self.rejected, self.failed))

    def commit(self) -> None:
        """Close the files and move them into place."""
        self._close()
        for part, path in zip(self._parts, (self.output, self.rejects), strict=True):
            os.replace(part, path)
        if self.journal is not None:
            self.journal.finish()

    def _close(self) -> None:
        for file in self._files:
            file.close()
        self._files = []

    def __exit__(self, *exc: Any) -> None:
        self._close()
        if self.journal is not None and self.journal.state['chunks'] and self.journal.path.is_file():
            return  # an interrupted run, kept for --resume
        for part in self._parts:
            part.unlink(missing_ok=True)
