"""Score a SMILES file of any size with a saved model: the engine of ``examol score``.

:func:`score_smiles_file` does everything the command does: it loads the model file, starts a
task server, streams the SMILES through :meth:`ScorerClient.stream_smiles` (chunks in flight
on the workers, outcomes back in input order) and appends each finished chunk to the output
with a :class:`~examol_core.colmena.scorefiles.ScoreWriter`. A thinker or a notebook with its
own client calls :func:`write_scores` on the same pieces. Everything here runs on the steering side.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from examol_core.colmena.resume import ScoreJournal
from examol_core.colmena.scorefiles import ScoreWriter, SmilesFile, default_rejects_path
from examol_core.colmena.thinker import ChunkOutcome, ScorerClient, TaskFailure

__all__ = ['ScoreProgress', 'ChunkFailure', 'ScoreSummary', 'write_scores', 'score_smiles_file']


@dataclass(frozen=True)
class ScoreProgress:
    """How far a scoring run is, after each chunk written.

    Attributes:
        done: Molecules written (scored, rejected or failed).
        total: Molecules in the input: exact once it is read, an estimate before, ``None`` if unknown.
    """

    done: int
    total: int | None
    scored: int
    rejected: int
    failed: int


@dataclass(frozen=True)
class ChunkFailure:
    """A chunk that failed after every retry: its input lines and the error."""

    index: int
    first_line: int
    last_line: int
    failure: TaskFailure


@dataclass
class ScoreSummary:
    """What a scoring run wrote."""

    output: Path
    rejects: Path
    scored: int = 0
    rejected: int = 0
    failed: int = 0
    failed_chunks: list[ChunkFailure] = field(default_factory=list)
    stopped: str | None = None
    """Why the run stopped before the end of the input, if it did."""

    @property
    def ok(self) -> bool:
        """No chunk failed, and the whole input was read."""
        return not self.failed_chunks and self.stopped is None


def write_scores(chunks: Iterable[ChunkOutcome], writer: ScoreWriter, *, source: Any = None,
                 progress: Callable[[ScoreProgress], None] | None = None,
                 give_up_after: int | None = None) -> ScoreSummary:
    """Append each chunk outcome, in the order given, to an open :class:`ScoreWriter`.

    Args:
        chunks: Outcomes in input order (from :meth:`ScorerClient.stream_smiles`).
        source: The :class:`SmilesFile` being read, to estimate the total for ``progress``.
        progress: Called after each chunk.
        give_up_after: Stop reading ``chunks`` after this many failed chunks in a row (each having
            used its retries): the workers are then most likely gone, and going on would only
            fill the rejects file with the rest of the input. ``None``: never stop.
    """
    summary = ScoreSummary(writer.output, writer.rejects)
    if writer.journal is not None:  # chunks of the interrupted run that failed
        for failed in writer.journal.state['failed_chunks']:
            failure = TaskFailure(failed['index'], failed['task_id'], failed['exception'], failed['traceback'])
            summary.failed_chunks.append(ChunkFailure(failed['index'], failed['first_line'], failed['last_line'],
                                                      failure))
    in_a_row = 0
    for chunk in chunks:
        writer.write(chunk)
        in_a_row = in_a_row + 1 if chunk.failure is not None else 0
        if chunk.failure is not None:
            summary.failed_chunks.append(ChunkFailure(chunk.index, chunk.lines[0], chunk.lines[-1], chunk.failure))
            if give_up_after is not None and in_a_row >= give_up_after:
                summary.stopped = (f'stopped after {in_a_row} chunks in a row failed (the last at line '
                                   f'{chunk.lines[-1]}): the workers appear to be gone; the molecules after it were '
                                   'not scored (the same command with --resume continues from there)')
                break
        if progress is not None:
            total = source.estimated_total() if isinstance(source, SmilesFile) else None
            progress(ScoreProgress(writer.scored + writer.rejected + writer.failed, total, writer.scored,
                                   writer.rejected, writer.failed))
    summary.scored, summary.rejected, summary.failed = writer.scored, writer.rejected, writer.failed
    return summary


def score_smiles_file(model: str | os.PathLike, smiles: str | os.PathLike, output: str | os.PathLike, *,
                      rejects: str | os.PathLike | None = None, chunk_size: int = 1000, retries: int = 1,
                      score_options: dict[str, Any] | None = None,
                      progress: Callable[[ScoreProgress], None] | None = None,
                      on_start: Callable[[], None] | None = None, resume: bool = False,
                      **server_options: Any) -> ScoreSummary:
    """Score every SMILES of a file with a saved model, in chunks across workers; write them in input order.

    Molecules that cannot be parsed or featurised go to ``rejects`` with their line number and
    the reason; so do the molecules of a chunk that still fails after ``retries`` resubmissions
    (listed in :attr:`ScoreSummary.failed_chunks`). The outputs appear complete, or not at all;
    existing files of those names are replaced. Before a task server starts, an output that is
    an input or the other output, a bad ``retries`` and unknown ``score_options`` are refused.

    Progress is recorded beside the output after every chunk (see
    :mod:`~examol_core.colmena.resume`): a run that stops early (Ctrl-C, SIGKILL, the batch job's
    walltime) is continued by calling again with ``resume=True`` and the same files and options,
    without scoring the finished chunks again; the outputs are then byte for byte those of an
    uninterrupted run.

    Args:
        model: Model file written by ``examol train`` (:func:`~examol_core.colmena.train_model_file`).
        smiles: One SMILES per line (first field; blank lines and ``#`` comments skipped).
        output: CSV of ``line,smiles,score[,std]``.
        rejects: CSV of ``line,smiles,reason``; default ``OUTPUT`` with suffix ``.rejects.csv``.
        chunk_size: Molecules per task.
        retries: Times a failed chunk is resubmitted.
        score_options: Passed to every ``scorer.score`` call.
        progress: Called after each chunk written.
        on_start: Called once the task server has started.
        resume: Continue the interrupted run of this output (:class:`~examol_core.colmena.resume.ResumeError`
            if there is none, or if the model file, the SMILES file or these options differ).
        server_options: For :func:`~examol_core.colmena.start_task_server` (``workers``,
            ``parsl_config``, ``redis_url``, ``local``).
    """
    from examol_core.colmena.config import load_parsl_config, server_capacity, start_task_server
    from examol_core.colmena.methods import make_methods
    from examol_core.files import check_distinct_paths, check_output_path
    from examol_core.modelfile import open_model_file
    from examol_core.options import check_keywords

    if chunk_size < 1:
        raise ValueError(f'--chunk-size must be at least 1; got {chunk_size}')
    if retries < 0:
        raise ValueError(f'--retries must be at least 0; got {retries}')
    check_distinct_paths({'the SMILES file (--smiles)': smiles, 'the model file (--model)': model},
                         {'--output': output, '--rejects': rejects if rejects is not None else default_rejects_path(output)})
    check_output_path(output)
    source = SmilesFile(smiles)
    rejects = Path(rejects) if rejects is not None else default_rejects_path(output)
    if isinstance(server_options.get('parsl_config'), (str, os.PathLike)):
        server_options['parsl_config'] = load_parsl_config(server_options['parsl_config'])
    capacity = server_capacity(server_options.get('workers', 1), server_options.get('parsl_config'))
    # The model file is checked and its scorer rebuilt first; its members are loaded (the scorer's safe
    # loader, with its imports: most of the time of opening it) while the task server starts
    with open_model_file(model) as opened:
        scorer, lower = opened.scorer, len(opened.manifest.lower_recipes)
        check_keywords(scorer.score, dict(score_options or {}), 'scoring option',
                       reserved=('model_msg', 'inputs', 'lower_fidelities'))
        journal = ScoreJournal.start(model, smiles, output, resume=resume, options={
            'chunk_size': chunk_size, 'retries': retries, 'score_options': dict(score_options or {}),
            'rejects': str(rejects.resolve())})
        methods = make_methods(scorer, opened.manifest.scorer.name, score_options=dict(score_options or {}))
        with ScoreWriter(output, rejects, ensemble=opened.is_ensemble, journal=journal) as writer:
            with start_task_server(methods, **server_options) as server:
                saved = opened.load()
                if on_start is not None:
                    on_start()
                client = ScorerClient(server.queues, scorer, methods)
                chunks = client.stream_smiles(saved.members if saved.is_ensemble else saved.model,
                                              journal.skip_done(source), chunk_size=chunk_size,
                                              max_in_flight=max(2, 2 * capacity), retries=retries, num_lower=lower,
                                              check_alive=server.check_alive)
                summary = write_scores(chunks, writer, source=source, progress=progress,
                                       give_up_after=max(3, 2 * capacity))
            if summary.stopped is None:  # else the .part files and the journal stay, for --resume
                writer.commit()
    return summary
