"""Task-server methods: a scorer's ``retrain`` and ``score`` as plain, named, picklable functions.

:func:`make_methods` binds a scorer and its options to module-level functions with
:func:`functools.partial`, and names them ``{scorer}_retrain``, ``{scorer}_score`` and
``{scorer}_score_smiles`` so that two scorers can share one task server. The functions run on
workers: they resolve any ProxyStore proxy they receive, call the scorer, and return plain
objects (Colmena proxies large return values itself when the queues use ProxyStore).
"""
from __future__ import annotations

import functools
import os
import platform
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from examol_core.colmena.proxies import resolve
from examol_core.scorer import MultiFidelityScorer, Scorer

__all__ = ['EnsembleMessage', 'ChunkScores', 'MethodNames', 'ScorerMethods', 'make_methods', 'scorer_name_of',
           'retrain_task', 'score_task', 'score_smiles_task', 'BATCH_JOB_VARIABLES', 'worker_info', 'record_batch_job']

BATCH_JOB_VARIABLES = {'SLURM_JOB_ID': 'slurm', 'PBS_JOBID': 'pbs', 'FLUX_JOB_ID': 'flux', 'LSB_JOBID': 'lsf',
                       'COBALT_JOBID': 'cobalt'}
"""Environment variable holding the batch job's id under each scheduler, and the scheduler's name."""


@dataclass(frozen=True)
class EnsembleMessage:
    """Model messages of every member of an ensemble, scored together in one task."""

    members: tuple[Any, ...]

    def __len__(self) -> int:
        return len(self.members)


@dataclass
class ChunkScores:
    """What a worker returns for a chunk of SMILES (see :func:`score_smiles_task`).

    Attributes:
        scores: ``(n,)`` scores, or ``(members, n)`` for an ensemble; NaN where rejected.
        rejects: ``(position in the chunk, reason)`` for each molecule that could not be scored.
        worker: Where the chunk was scored (:func:`worker_info`): host name, and the batch job
            (``batch_job_id``, ``batch_scheduler``) when the worker runs in one.
    """

    scores: np.ndarray
    rejects: list[tuple[int, str]] = field(default_factory=list)
    worker: dict[str, str] = field(default_factory=dict)


def worker_info() -> dict[str, str]:
    """This worker's host name and, inside a batch job (Slurm, PBS, Flux, LSF, Cobalt), the job's id and scheduler."""
    info = {'hostname': platform.node()}
    for variable, scheduler in BATCH_JOB_VARIABLES.items():
        if os.environ.get(variable):
            info.update(batch_job_id=os.environ[variable], batch_scheduler=scheduler)
            break
    return info


def record_batch_job(result: Any) -> None:
    """Add the batch job this worker runs in to a task's ``result.worker_info`` (runs on the worker).

    Colmena gives a task function its :class:`~colmena.models.Result` when the function takes
    ``_result``, and fills ``worker_info`` with the host name; this adds ``batch_job_id`` and
    ``batch_scheduler`` (e.g. ``slurm``) when the worker runs inside a batch job, so that a thinker
    can tell which allocation computed each result (and which results a cancelled job lost).
    """
    if result is None:
        return
    info = worker_info()
    if 'batch_job_id' not in info:
        return
    if result.worker_info is None:
        result.worker_info = {}
    if isinstance(result.worker_info, dict):
        result.worker_info.update(batch_job_id=info['batch_job_id'], batch_scheduler=info['batch_scheduler'])
    else:
        result.worker_info.batch_job_id = info['batch_job_id']
        result.worker_info.batch_scheduler = info['batch_scheduler']


def _take(seq: Any, rows: np.ndarray) -> Any:
    if isinstance(seq, np.ndarray):
        return seq[rows]
    return [seq[int(i)] for i in rows]


def retrain_task(scorer: Scorer, model_msg: Any, inputs: Sequence[Any], outputs: np.ndarray, *,
                 bootstrap_seed: int | None = None, _result: Any = None, **kwargs: Any) -> Any:
    """Train on a worker; with ``bootstrap_seed``, on a bootstrap sample of the records.

    Sampling happens on the worker so that every member of an ensemble receives the same
    (possibly proxied) training set and only the seed differs.

    Args:
        scorer: The scorer (bound by :func:`make_methods`).
        model_msg: ``scorer.prepare_message(model, training=True)``.
        inputs: ``scorer.transform_inputs(records)``.
        outputs: ``scorer.transform_outputs(records, recipe)``.
        bootstrap_seed: Seed of the bootstrap sample, or ``None`` to train on every record.
        kwargs: Passed to ``scorer.retrain`` (``lower_fidelities``, training options).
    Returns:
        The update message for ``scorer.update``.
    """
    record_batch_job(_result)
    model_msg, inputs, outputs = resolve(model_msg), resolve(inputs), resolve(outputs)
    kwargs = {k: resolve(v) for k, v in kwargs.items()}
    if bootstrap_seed is not None:
        rng = np.random.default_rng(bootstrap_seed)
        rows = rng.integers(0, len(inputs), size=len(inputs))
        inputs = _take(inputs, rows)
        outputs = np.asarray(outputs)[rows]
        if kwargs.get('lower_fidelities') is not None:
            kwargs['lower_fidelities'] = np.asarray(kwargs['lower_fidelities'])[rows]
    return scorer.retrain(model_msg, inputs, outputs, **kwargs)


def score_task(scorer: Scorer, model_msg: Any, inputs: Sequence[Any], *, _result: Any = None,
               **kwargs: Any) -> np.ndarray:
    """Score inputs on a worker.

    Returns:
        ``(n,)`` float scores, or ``(members, n)`` when ``model_msg`` is an :class:`EnsembleMessage`.
    """
    record_batch_job(_result)
    model_msg, inputs = resolve(model_msg), resolve(inputs)
    kwargs = {k: resolve(v) for k, v in kwargs.items()}
    if isinstance(model_msg, EnsembleMessage):
        return np.stack([np.asarray(scorer.score(m, inputs, **kwargs), dtype=float) for m in model_msg.members])
    return np.asarray(scorer.score(model_msg, inputs, **kwargs), dtype=float)


def score_smiles_task(scorer: Scorer, model_msg: Any, smiles: Sequence[str], *, num_lower: int = 0,
                      _result: Any = None, **kwargs: Any) -> ChunkScores:
    """Form inputs straight from SMILES and score them, all on a worker.

    The chunk goes through ``scorer.transform_smiles`` and ``score`` in one piece, which is as
    fast as the scorer itself. If that raises ``ValueError`` (a SMILES RDKit cannot parse, or
    one the scorer cannot use), the culprits are found one by one and rejected with a reason,
    and the other molecules are scored, instead of failing the whole chunk.

    Args:
        smiles: The molecules of the chunk.
        num_lower: Number of lower fidelity levels the model was trained with; when positive, the
            scorer receives an all-NaN ``lower_fidelities`` (nothing known about new molecules),
            so it returns its estimate of the highest level.
        _result: The task's Colmena result, given by Colmena (see :func:`record_batch_job`).
        kwargs: Passed to ``scorer.score``.
    """
    record_batch_job(_result)
    model_msg, smiles = resolve(model_msg), list(resolve(smiles))
    members = len(model_msg) if isinstance(model_msg, EnsembleMessage) else 0
    scores = np.full((members, len(smiles)) if members else (len(smiles),), np.nan)

    def score(chunk: list[str]) -> np.ndarray:
        options = dict(kwargs)
        if num_lower and isinstance(scorer, MultiFidelityScorer):
            options['lower_fidelities'] = np.full((len(chunk), num_lower), np.nan)
        return score_task(scorer, model_msg, scorer.transform_smiles(chunk), **options)

    rejects: list[tuple[int, str]] = []
    try:
        if smiles:
            scores[...] = score(smiles)
    except ValueError:
        positions, rejects = _usable(scorer, smiles)
        if positions:
            scores[..., positions] = score([smiles[i] for i in positions])
    return ChunkScores(scores=scores, rejects=rejects, worker=worker_info())


def _usable(scorer: Scorer, smiles: list[str]) -> tuple[list[int], list[tuple[int, str]]]:
    """Positions of the SMILES the scorer can use, and ``(position, reason)`` of the others (on a worker)."""
    from examol_core.errors import InvalidIdentifierError
    from examol_core.records import parse_identifier

    positions, rejects = [], []
    for i, smi in enumerate(smiles):
        try:
            parse_identifier(smi)
        except InvalidIdentifierError as exc:
            empty = not (isinstance(smi, str) and smi.strip())
            rejects.append((i, 'empty SMILES' if empty else exc.reason.removeprefix('could not be parsed: ')))
            continue
        try:
            scorer.transform_smiles([smi])
        except ValueError as exc:
            rejects.append((i, f'scorer cannot use it: {exc}'))
        else:
            positions.append(i)
    return positions, rejects


@dataclass(frozen=True)
class MethodNames:
    """Names of one scorer's task-server methods: the only place they are formed."""

    retrain: str
    score: str
    score_smiles: str

    @classmethod
    def for_scorer(cls, name: str) -> 'MethodNames':
        """``{name}_retrain``, ``{name}_score`` and ``{name}_score_smiles``."""
        return cls(f'{name}_retrain', f'{name}_score', f'{name}_score_smiles')


@dataclass(frozen=True)
class ScorerMethods:
    """The task-server methods of one scorer; iterate over it to register them all.

    Example::

        methods = make_methods(scorer, 'rdkit')
        server = ParslTaskServer(methods=list(methods), queues=queues, config=config)
        queues.send_inputs(msg, inputs, outputs, method=methods.retrain_name)
    """

    scorer_name: str
    retrain: Callable[..., Any]
    score: Callable[..., np.ndarray]
    score_smiles: Callable[..., ChunkScores]

    @property
    def names(self) -> MethodNames:
        """The registered names of the three methods."""
        return MethodNames(self.retrain_name, self.score_name, self.score_smiles_name)

    @property
    def retrain_name(self) -> str:
        return self.retrain.__name__

    @property
    def score_name(self) -> str:
        return self.score.__name__

    @property
    def score_smiles_name(self) -> str:
        return self.score_smiles.__name__

    def __iter__(self) -> Iterator[Callable[..., Any]]:
        return iter((self.retrain, self.score, self.score_smiles))


def _bind(func: Callable[..., Any], name: str, scorer: Scorer, options: dict[str, Any]) -> Callable[..., Any]:
    bound = functools.partial(func, scorer, **options)
    functools.update_wrapper(bound, func)
    bound.__name__ = bound.__qualname__ = name
    return bound


def scorer_name_of(scorer: Scorer) -> str:
    """The registry name of a scorer's class, without importing other plugins; the class name otherwise."""
    from examol_core.plugins import available_scorers

    cls = type(scorer)
    for name, spec in available_scorers().items():
        target = spec.scorer
        if target is cls:
            return name
        if isinstance(target, str):
            module, _, attr = target.partition(':')
            if attr == cls.__qualname__ and (cls.__module__ == module or cls.__module__.startswith(module + '.')):
                return name
    return cls.__name__.lower()


def make_methods(scorer: Scorer, name: str | None = None, *, retrain_options: dict[str, Any] | None = None,
                 score_options: dict[str, Any] | None = None) -> ScorerMethods:
    """Functions to register on a Colmena task server for one scorer.

    Args:
        scorer: The scorer; it is pickled with each function and sent to the workers.
        name: Prefix of the method names; defaults to the scorer's name in the plugin registry.
        retrain_options: Keyword arguments for every ``scorer.retrain`` call (e.g. ``epochs``).
        score_options: Keyword arguments for every ``scorer.score`` call (e.g. ``batch_size``).
    Returns:
        ``retrain`` (named ``{name}_retrain``; see :func:`retrain_task`), ``score``
        (``{name}_score``; :func:`score_task`) and ``score_smiles`` (``{name}_score_smiles``;
        :func:`score_smiles_task`).
    """
    name = name or scorer_name_of(scorer)
    names = MethodNames.for_scorer(name)
    return ScorerMethods(
        scorer_name=name,
        retrain=_bind(retrain_task, names.retrain, scorer, dict(retrain_options or {})),
        score=_bind(score_task, names.score, scorer, dict(score_options or {})),
        score_smiles=_bind(score_smiles_task, names.score_smiles, scorer, dict(score_options or {})),
    )
