"""Molecules in, chemprop graphs out: SMILES on the steering side, graphs on the worker.

:meth:`ChempropScorer.transform_inputs <examol_chemprop.scorer.ChempropScorer.transform_inputs>`
checks every molecule on the steering side and returns canonical SMILES; the worker featurises
them with chemprop's default featuriser when it trains or scores. A chemprop graph pickles to
about 5 kB per molecule against about 20 bytes for its SMILES, and featurising (about 3,000
molecules/s per core) costs less than a quarter of a forward pass of the default network, so
shipping SMILES and featurising where the network runs is faster end to end and spreads the
featurisation over the workers (``bench/chemprop_scoring.py`` measures both).

Importing this module does not import PyTorch; :func:`featurise` imports chemprop.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from examol_core.errors import InvalidIdentifierError
from examol_core.records import MoleculeRecord, parse_identifier

if TYPE_CHECKING:
    from chemprop.data import BatchMolGraph, MolGraph

__all__ = ['to_smiles', 'featurise', 'batches', 'InvalidInputError']


class InvalidInputError(InvalidIdentifierError):
    """An input that is neither a record, a SMILES/InChI string nor a chemprop ``MolGraph``."""


def to_smiles(items: Sequence[Any], start: int = 0) -> list[str]:
    """Canonical SMILES of records or SMILES/InChI strings, each checked with RDKit (steering side).

    Args:
        items: Records or strings.
        start: Position of ``items[0]`` in the caller's list, so errors name the right index.
    Raises:
        InvalidIdentifierError: a string RDKit cannot parse, or an input of another type (with its position).
    """
    from rdkit import Chem

    smiles = []
    for i, item in enumerate(items, start):
        if isinstance(item, MoleculeRecord):
            smiles.append(item.identifier.smiles)
        elif isinstance(item, str):
            try:
                smiles.append(Chem.MolToSmiles(parse_identifier(item)))
            except InvalidIdentifierError as exc:
                raise InvalidIdentifierError(item, i, exc.reason) from None
        else:
            raise InvalidInputError(repr(item)[:80], i, f'is a {type(item).__name__}; expected a MoleculeRecord or a '
                                                        'SMILES string (from ChempropScorer.transform_inputs)')
    return smiles


_featuriser: Any = None


def featurise(items: Sequence[Any], start: int = 0) -> list['MolGraph']:
    """chemprop graphs (``MolGraph``) for SMILES, records or graphs (kept as they are); runs on the worker.

    Raises:
        InvalidIdentifierError: naming the position of an input that cannot be featurised.
    """
    global _featuriser
    from chemprop.data import MolGraph
    from chemprop.featurizers import SimpleMoleculeMolGraphFeaturizer

    if _featuriser is None:
        _featuriser = SimpleMoleculeMolGraphFeaturizer()
    graphs = []
    for i, item in enumerate(items, start):
        if isinstance(item, MolGraph):
            graphs.append(item)
            continue
        if isinstance(item, MoleculeRecord):
            item = item.identifier.smiles
        if not isinstance(item, str):
            raise InvalidInputError(repr(item)[:80], i, f'is a {type(item).__name__}; expected a SMILES string from '
                                                        'ChempropScorer.transform_inputs, a record or a MolGraph')
        try:
            mol = parse_identifier(item)
        except InvalidIdentifierError as exc:
            raise InvalidIdentifierError(item, i, exc.reason) from None
        graphs.append(_featuriser(mol))
    return graphs


def batches(graphs: Sequence['MolGraph'], order: np.ndarray, batch_size: int,
            min_last: int = 1) -> Iterator[tuple[np.ndarray, 'BatchMolGraph']]:
    """``(rows, batch)`` for consecutive slices of ``order``; chemprop batches need no padding.

    Args:
        min_last: A last batch smaller than this joins the one before (batch normalisation
            cannot train on a batch of one molecule).
    """
    from chemprop.data import BatchMolGraph

    starts = list(range(0, len(order), batch_size))
    if len(starts) > 1 and len(order) - starts[-1] < min_last:
        starts.pop()
    for begin, end in zip(starts, [*starts[1:], len(order)]):
        rows = order[begin:end]
        yield rows, BatchMolGraph([graphs[int(i)] for i in rows])
