"""The jobs of a scorer: training an ensemble, and scoring chunks of inputs or SMILES in input order.

Both build on :class:`~examol_core.colmena.jobs.Job` (routing, retries, waiting, ProxyStore);
what they add is how to fold results back: ``scorer.update`` for each member, and the chunks'
scores reassembled in input order with a check of each chunk's shape. Steering side.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from examol_core.colmena.jobs import Job
from examol_core.colmena.methods import ChunkScores

if TYPE_CHECKING:
    from examol_core.colmena.thinker import ScorerClient

__all__ = ['RetrainJob', 'ScoreJob', 'Scores', 'summarise', 'chunk_bounds']


def chunk_bounds(n: int, chunk_size: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of each chunk when splitting ``n`` items into chunks of ``chunk_size``."""
    if chunk_size < 1:
        raise ValueError(f'chunk_size must be at least 1; got {chunk_size}')
    return [(start, min(start + chunk_size, n)) for start in range(0, n, chunk_size)]


class RetrainJob(Job):
    """Training tasks for a model or the members of an ensemble."""

    kind = 'retrain'

    def __init__(self, client: 'ScorerClient', method: str, topic: str, ensemble: bool, *, bootstrap: bool = False,
                 **options: Any):
        super().__init__(client, method, topic, **options)
        self.ensemble = ensemble
        self.bootstrap = bootstrap

    def update(self, models: Any) -> Any:
        """Fold the training results into the local model(s) with ``scorer.update`` (steering side).

        Args:
            models: The model(s) given to :meth:`ScorerClient.submit_retrain`, in the same order.
        Returns:
            The updated model, or list of members.
        Raises:
            IncompleteJobError: a task failed or is still running (nothing is updated then).
        """
        self._raise_if_incomplete()
        members = list(models) if self.ensemble else [models]
        if len(members) != self.size:
            raise ValueError(f'Job trained {self.size} models; got {len(members)} to update')
        updated = [self.client.scorer.update(m, self.results[i]) for i, m in enumerate(members)]
        return updated if self.ensemble else updated[0]


@dataclass
class Scores:
    """Scores reassembled in input order.

    Attributes:
        mean: ``(n,)`` scores (the ensemble mean for an ensemble); NaN where ``missing`` or rejected.
        std: ``(n,)`` standard deviation over ensemble members, or ``None`` for a single model.
        members: ``(members, n)`` scores of each member, or ``None`` for a single model.
        missing: ``(n,)`` boolean: the chunk holding this input failed (only with ``allow_missing``).
        rejects: ``(input position, reason)`` of molecules a worker could not score (SMILES jobs).
    """

    mean: np.ndarray
    std: np.ndarray | None
    members: np.ndarray | None
    missing: np.ndarray
    rejects: list[tuple[int, str]] = field(default_factory=list)


def summarise(values: np.ndarray, ensemble: bool) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """``(mean, std, members)`` of ``(members, n)`` ensemble scores; ``(values, None, None)`` for one model."""
    if not ensemble:
        return values, None, None
    with np.errstate(invalid='ignore'):
        return values.mean(axis=0), values.std(axis=0), values


class ScoreJob(Job):
    """Inference on chunks of inputs (or of SMILES, parsed on the workers); reassembles the scores in order.

    Args:
        members: Ensemble members scored together in each task (0 for a single model).
        smiles: Tasks return :class:`~examol_core.colmena.ChunkScores` (scores and rejects).
    """

    kind = 'score'

    def __init__(self, client: 'ScorerClient', method: str, topic: str, members: int, *, smiles: bool = False,
                 **options: Any):
        super().__init__(client, method, topic, **options)
        self.members = members
        self.smiles = smiles
        self.bounds: list[tuple[int, int]] = []

    @property
    def n(self) -> int:
        """Inputs submitted so far."""
        return self.bounds[-1][1] if self.bounds else 0

    def submit_chunks(self, chunks: Sequence[tuple[int, int, tuple[Any, ...], dict[str, Any]]]) -> list[int]:
        """Submit ``(start, stop, args, kwargs)`` chunks, contiguous after those already sent; returns their indices."""
        with self._lock:
            first = len(self.bounds)
            for start, stop, _, _ in chunks:
                if start != self.n:
                    raise ValueError(f'chunk starting at {start} does not follow input {self.n - 1}')
                self.bounds.append((start, stop))
            requests = [(first + i, args, kwargs) for i, (_, _, args, kwargs) in enumerate(chunks)]
        self.submit(requests)
        return [index for index, _, _ in requests]

    def _extra_info(self, index: int) -> dict[str, Any]:
        start, stop = self.bounds[index]
        return {'examol_start': start, 'examol_stop': stop}

    def _bounds(self, index: int) -> dict[str, int]:
        start, stop = self.bounds[index]
        return {'start': start, 'stop': stop}

    def _accept(self, index: int, value: Any) -> Any:
        start, stop = self.bounds[index]
        if self.smiles != isinstance(value, ChunkScores):
            raise TypeError(f'expected {"ChunkScores" if self.smiles else "an array"}, got {type(value).__name__}')
        values = np.asarray(value.scores if self.smiles else value, dtype=float)
        expected = (self.members, stop - start) if self.members else (stop - start,)
        if values.shape != expected:
            raise ValueError(f'chunk {index} (inputs {start}-{stop - 1}) returned scores of shape {values.shape}; '
                             f'expected {expected}')
        return ChunkScores(values, list(value.rejects)) if self.smiles else values

    def collect(self, allow_missing: bool = False) -> Scores:
        """Scores in input order.

        Args:
            allow_missing: Return NaN (flagged in :attr:`Scores.missing`) for chunks that failed or
                are still running, instead of raising.
        Raises:
            IncompleteJobError: some chunk failed or is running, and not ``allow_missing``.
        """
        if not allow_missing:
            self._raise_if_incomplete()
        shape = (self.members, self.n) if self.members else (self.n,)
        values = np.full(shape, np.nan)
        missing = np.ones(self.n, dtype=bool)
        rejects = []
        with self._lock:
            for index, chunk in sorted(self.results.items()):
                start, stop = self.bounds[index]
                values[..., start:stop] = chunk.scores if self.smiles else chunk
                missing[start:stop] = False
                rejects.extend((start + i, reason) for i, reason in (chunk.rejects if self.smiles else ()))
        mean, std, members = summarise(values, bool(self.members))
        return Scores(mean=mean, std=std, members=members, missing=missing, rejects=rejects)
