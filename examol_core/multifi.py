"""The multi-fidelity contract shared by every scorer.

A property known at several levels of fidelity (cheap to expensive) is learned as the lowest
level plus the *deltas* between successive levels. At inference, levels already known for a
molecule replace predictions, and the estimate of the highest level is the highest known value
plus the predicted deltas above it. Scorers must use these functions rather than re-implement
them, so that every plugin does the same arithmetic.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from examol_core.errors import InvalidLabelsError, ShapeMismatchError

if TYPE_CHECKING:
    from examol_core.recipes import PropertyRecipe
    from examol_core.records import MoleculeRecord


def collect_outputs(records: Sequence['MoleculeRecord'], recipes: Sequence['PropertyRecipe']) -> np.ndarray:
    """Values of several recipes for each record.

    Returns:
        ``(len(records), len(recipes))`` float array, NaN where a value is unknown.
    """
    out = np.full((len(records), len(recipes)), np.nan)
    for i, record in enumerate(records):
        for j, recipe in enumerate(recipes):
            value = record.properties.get(recipe.name, {}).get(recipe.level)
            if value is not None:
                out[i, j] = value
    return out


def compute_deltas(values: np.ndarray) -> np.ndarray:
    """Turn per-level values into the lowest level plus deltas between successive levels.

    Args:
        values: ``(n, levels)`` values, lowest fidelity first; NaN where unknown.
    Returns:
        Array of the same shape: column 0 is the lowest level, column ``j`` is
        ``values[:, j] - values[:, j-1]`` (NaN unless both levels are known).
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 2:
        raise ShapeMismatchError(f'values must be 2-D (records, levels); got shape {values.shape}')
    deltas = values.copy()
    deltas[:, 1:] = np.diff(values, axis=1)
    return deltas


def stack_levels(outputs: np.ndarray, lower_fidelities: np.ndarray) -> np.ndarray:
    """All levels side by side, lowest first: ``(n, k + 1)`` from lower ``(n, k)`` and top ``(n,)``."""
    return np.column_stack([np.asarray(lower_fidelities, dtype=float), np.asarray(outputs, dtype=float)])


def predict_from_deltas(predicted_deltas: np.ndarray, lower_fidelities: np.ndarray | None) -> np.ndarray:
    """Estimate the highest level from predicted deltas and whatever lower levels are known.

    For each molecule, take the highest lower level that is known (if any) and add the
    predicted deltas of every level above it. With no lower level known this is the sum of all
    predicted deltas; with every lower level known only the last delta is predicted.

    Args:
        predicted_deltas: ``(n, k + 1)``: predicted lowest level then the k deltas.
        lower_fidelities: ``(n, k)`` known lower levels (NaN = unknown), or ``None``.
    Returns:
        ``(n,)`` estimates of the highest level.
    """
    deltas = np.asarray(predicted_deltas, dtype=float)
    if deltas.ndim != 2:
        raise ShapeMismatchError(f'predicted deltas must be 2-D (records, levels); got shape {deltas.shape}')
    if lower_fidelities is None:
        return deltas.sum(axis=1)
    lower = np.asarray(lower_fidelities, dtype=float)
    if lower.shape != (deltas.shape[0], deltas.shape[1] - 1):
        raise ShapeMismatchError(f'lower_fidelities has shape {lower.shape}; expected '
                                 f'{(deltas.shape[0], deltas.shape[1] - 1)} for deltas of shape {deltas.shape}')
    known = ~np.isnan(lower)
    # Index of the highest known lower level, -1 when none is known
    levels = np.arange(lower.shape[1])
    highest = np.where(known, levels, -1).max(axis=1, initial=-1)
    # Cumulative sums of predicted deltas from the top: above[:, j] = sum of deltas[:, j:]
    above = np.cumsum(deltas[:, ::-1], axis=1)[:, ::-1]
    rows = np.arange(deltas.shape[0])
    base = np.where(highest >= 0, lower[rows, np.maximum(highest, 0)], 0.)
    return base + above[rows, highest + 1]


def delta_targets(outputs: np.ndarray, lower_fidelities: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Training sets for each delta model: a record contributes to each level it has.

    Returns:
        One ``(rows, targets)`` pair per level, lowest first: the indices of the records that know
        that delta, and the delta values themselves.
    """
    deltas = compute_deltas(stack_levels(outputs, lower_fidelities))
    result = []
    for j in range(deltas.shape[1]):
        rows = np.flatnonzero(~np.isnan(deltas[:, j]))
        result.append((rows, deltas[rows, j]))
    return result


def check_training_data(num_inputs: int, outputs: np.ndarray, lower_fidelities: np.ndarray | None = None,
                        min_records: int = 1) -> tuple[np.ndarray, np.ndarray | None]:
    """Validate training labels before any work is done; returns them as float arrays.

    Raises:
        ShapeMismatchError: lengths of inputs, outputs or lower fidelities differ.
        InvalidLabelsError: NaN labels in single-fidelity training, or too few labelled records.
    """
    outputs = np.asarray(outputs, dtype=float)
    if outputs.ndim != 1:
        raise ShapeMismatchError(f'outputs must be 1-D (one label per record); got shape {outputs.shape}')
    if len(outputs) != num_inputs:
        raise ShapeMismatchError(f'{num_inputs} inputs but {len(outputs)} outputs: they must have the same length')
    if lower_fidelities is None:
        bad = np.flatnonzero(~np.isfinite(outputs))
        if len(bad):
            raise InvalidLabelsError(f'{len(bad)} outputs are NaN or infinite (first at index {bad[0]}); single-fidelity '
                                     'training needs every label: drop those records or pass lower_fidelities')
        if len(outputs) < min_records:
            raise InvalidLabelsError(f'Need at least {min_records} labelled records to train; got {len(outputs)}')
        return outputs, None
    lower = np.asarray(lower_fidelities, dtype=float)
    if lower.ndim != 2 or lower.shape[0] != len(outputs):
        raise ShapeMismatchError(f'lower_fidelities must have shape ({len(outputs)}, levels); got {lower.shape}')
    if np.isinf(lower).any() or np.isinf(outputs).any():
        raise InvalidLabelsError('labels contain infinite values; use NaN for unknown levels')
    for level, (rows, _) in enumerate(delta_targets(outputs, lower)):
        if len(rows) < min_records:
            raise InvalidLabelsError(f'Level {level} of {lower.shape[1] + 1} has {len(rows)} records with a known '
                                     f'value (delta); at least {min_records} are needed to train it')
    return outputs, lower


def check_lower_fidelities(num_inputs: int, lower_fidelities: np.ndarray | None) -> np.ndarray | None:
    """Validate lower-fidelity values passed at inference, as training does (NaN means unknown).

    Raises:
        ShapeMismatchError: not ``(num_inputs, levels)``.
        InvalidLabelsError: an infinite value (naming the first row and level).
    """
    if lower_fidelities is None:
        return None
    lower = np.asarray(lower_fidelities, dtype=float)
    if lower.ndim != 2 or lower.shape[0] != num_inputs:
        raise ShapeMismatchError(f'lower_fidelities must have shape ({num_inputs}, levels) to match {num_inputs} '
                                 f'inputs; got {lower.shape}')
    infinite = np.argwhere(np.isinf(lower))
    if len(infinite):
        row, level = infinite[0]
        raise InvalidLabelsError(f'lower_fidelities holds {len(infinite)} infinite values (first at row {row}, level '
                                 f'{level}); use NaN for unknown levels')
    return lower
