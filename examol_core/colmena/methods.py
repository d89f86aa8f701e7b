"""Task-server methods: a scorer's ``retrain`` and ``score`` as plain, named, picklable functions.

:func:`make_methods` binds a scorer and its options to module-level functions with
:func:`functools.partial`, and names them ``{scorer}_retrain``, ``{scorer}_score`` and
``{scorer}_score_smiles`` so that two scorers can share one task server. The functions run on
workers: they resolve any ProxyStore proxy they receive, call the scorer, and return plain
objects (Colmena proxies large return values itself when the queues use ProxyStore).
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from examol_core.colmena.proxies import resolve
from examol_core.scorer import MultiFidelityScorer, Scorer

__all__ = ['EnsembleMessage', 'ChunkScores', 'MethodNames', 'ScorerMethods', 'make_methods', 'scorer_name_of',
           'retrain_task', 'score_task', 'score_smiles_task']


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
    """

    scores: np.ndarray
    rejects: list[tuple[int, str]] = field(default_factory=list)


def _take(seq: Any, rows: np.ndarray) -> Any:
    if isinstance(seq, np.ndarray):
        return seq[rows]
    return [seq[int(i)] for i in rows]


def retrain_task(scorer: Scorer, model_msg: Any, inputs: Sequence[Any], outputs: np.ndarray, *,
                 bootstrap_seed: int | None = None, **kwargs: Any) -> Any:
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


def score_task(scorer: Scorer, model_msg: Any, inputs: Sequence[Any], **kwargs: Any) -> np.ndarray:
    """Score inputs on a worker.

    Returns:
        ``(n,)`` float scores, or ``(members, n)`` when ``model_msg`` is an :class:`EnsembleMessage`.
    """
    model_msg, inputs = resolve(model_msg), resolve(inputs)
    kwargs = {k: resolve(v) for k, v in kwargs.items()}
    if isinstance(model_msg, EnsembleMessage):
        return np.stack([np.asarray(scorer.score(m, inputs, **kwargs), dtype=float) for m in model_msg.members])
    return np.asarray(scorer.score(model_msg, inputs, **kwargs), dtype=float)


def score_smiles_task(scorer: Scorer, model_msg: Any, smiles: Sequence[str], *, num_lower: int = 0,
                      **kwargs: Any) -> ChunkScores:
    """Parse SMILES into records, form inputs and score them, all on a worker.

    Molecules that RDKit cannot parse, or that the scorer cannot turn into inputs, are
    rejected with a reason instead of failing the whole chunk.

    Args:
        smiles: The molecules of the chunk.
        num_lower: Number of lower fidelity levels the model was trained with; when positive, the
            scorer receives an all-NaN ``lower_fidelities`` (nothing known about new molecules),
            so it returns its estimate of the highest level.
        kwargs: Passed to ``scorer.score``.
    """
    from examol_core.errors import InvalidIdentifierError
    from examol_core.records import MoleculeRecord

    model_msg, smiles = resolve(model_msg), resolve(smiles)
    records, positions, rejects = [], [], []
    for i, smi in enumerate(smiles):
        try:
            records.append(MoleculeRecord.from_identifier(smi))
            positions.append(i)
        except InvalidIdentifierError as exc:
            reason = exc.reason.removeprefix('could not be parsed: ') if smi.strip() else 'empty SMILES'
            rejects.append((i, reason))
    try:
        inputs = scorer.transform_inputs(records)
    except ValueError:
        # Find the molecules the scorer cannot handle, one by one, and keep the others
        kept_records, kept_positions = [], []
        for record, pos in zip(records, positions, strict=True):
            try:
                scorer.transform_inputs([record])
            except ValueError as exc:
                rejects.append((pos, f'scorer cannot use it: {exc}'))
            else:
                kept_records.append(record)
                kept_positions.append(pos)
        records, positions = kept_records, kept_positions
        inputs = scorer.transform_inputs(records)
    members = len(model_msg) if isinstance(model_msg, EnsembleMessage) else 0
    shape = (members, len(smiles)) if members else (len(smiles),)
    scores = np.full(shape, np.nan)
    if records:
        if num_lower and isinstance(scorer, MultiFidelityScorer):
            kwargs['lower_fidelities'] = np.full((len(records), num_lower), np.nan)
        values = score_task(scorer, model_msg, inputs, **kwargs)
        scores[..., positions] = values
    rejects.sort()
    return ChunkScores(scores=scores, rejects=rejects)


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
