"""The RDKit scorer: scikit-learn pipelines on RDKit features, single- or multi-fidelity.

A model is a scikit-learn pipeline (see :mod:`examol_rdkit.models`) before and after
single-fidelity training, and a list of fitted pipelines, one per level of fidelity (the lowest
level, then each delta), after multi-fidelity training. Messages are those pipelines: plain,
picklable objects with no open handles.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from examol_core.errors import ShapeMismatchError
from examol_core.multifi import check_lower_fidelities, check_training_data, delta_targets, predict_from_deltas
from examol_core.records import MoleculeRecord
from examol_core.scorer import MultiFidelityScorer
from examol_rdkit._threads import blas_threads
from examol_rdkit.features import FingerprintTransformer

__all__ = ['RDKitScorer', 'ModelType']

ModelType = BaseEstimator | list[BaseEstimator]
"""One pipeline (untrained, or trained on a single level) or one fitted pipeline per level of fidelity."""

#: Below this many records, models are trained with one BLAS thread: for small matrices, threads cost more than
#: they save (a cross-validated GPR on 64 molecules took 34 s with two threads, 1.8 s with one, on a busy 2-core machine).
SMALL_TRAINING_SET = 1000

#: Molecules scored per block: featurised together, so memory stays bounded for any number of inputs.
SCORE_CHUNK = 16384


def _as_levels(model_msg: Any, what: str) -> list[Any]:
    models = list(model_msg) if isinstance(model_msg, (list, tuple)) else [model_msg]
    if not models:
        raise ValueError(f'The {what} holds no model')
    for i, model in enumerate(models):
        if not hasattr(model, 'predict') or not hasattr(model, 'fit'):
            raise TypeError(f'The {what} should hold scikit-learn estimators (e.g. from make_knn_model); '
                            f'item {i} is a {type(model).__name__}')
    return models


def _featuriser(model: Any) -> FingerprintTransformer | None:
    """The SMILES featuriser heading a pipeline, if any."""
    if isinstance(model, Pipeline) and len(model) > 1 and isinstance(model[0], FingerprintTransformer):
        return model[0]
    return None


def _feature_blocks(featuriser: FingerprintTransformer | None, inputs: Sequence[Any]) -> Iterator[tuple[int, Any]]:
    """Consecutive blocks of the inputs, featurised if the levels share a featuriser: ``(start, block)``.

    Blocks of at most :data:`SCORE_CHUNK`; a featuriser spreading a chunk over worker processes
    hands over each part as soon as it is ready, so the regressors run on it while the workers
    compute the next (no core idles while the last part is computed and then predicted).
    """
    for start in range(0, len(inputs), SCORE_CHUNK):
        chunk = inputs[start:start + SCORE_CHUNK]
        if featuriser is None:
            yield start, chunk
        else:
            for offset, features in featuriser._blocks(chunk, offset=start):
                yield start + offset, features


def _shared_featuriser(models: Sequence[Any]) -> FingerprintTransformer | None:
    """The featuriser of every model when they all share it: molecules are then featurised once for all levels."""
    first = _featuriser(models[0])
    if first is None:
        return None
    params = first.get_params()
    for model in models[1:]:
        other = _featuriser(model)
        if other is None or type(other) is not type(first) or other.get_params() != params:
            return None
    return first


def _min_records(model: Any) -> int:
    """Fewest records a model can train on: its number of neighbours or of cross-validation folds, and 2 for a GPR.

    A Gaussian process fitted to one record learns nothing (the scale of its labels is zero) and
    scikit-learn only warns, so it is refused here with the other too-small training sets.
    """
    params = model.get_params(deep=True)
    needed = 2 if any(isinstance(v, GaussianProcessRegressor) for v in (model, *params.values())) else 1
    for name, value in params.items():
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and \
                (name == 'n_neighbors' or name.endswith('__n_neighbors') or name == 'cv' or name.endswith('__cv')):
            needed = max(needed, int(value))
    return needed


def _take(inputs: Any, rows: np.ndarray) -> Any:
    if isinstance(inputs, np.ndarray):
        return inputs[rows]
    return [inputs[i] for i in rows]


class RDKitScorer(MultiFidelityScorer):
    """Score molecules with scikit-learn pipelines built on RDKit features.

    Inputs are SMILES strings: featurisation happens inside the model, on the worker. With a
    ``pre_transform``, :meth:`transform_inputs` featurises on the steering side instead and the
    inputs are feature arrays; models must then start after featurisation::

        model = make_knn_model()
        scorer = RDKitScorer(pre_transform=model[0])   # fingerprints computed once, locally
        model = model[1:]                              # the model takes fingerprints

    Multi-fidelity training fits one fresh clone of the pipeline per level (the lowest level,
    then each delta), each on the records that know it; inference uses
    :func:`examol_core.multifi.predict_from_deltas`.

    Args:
        pre_transform: A stateless (or already fitted) transformer from SMILES to features, such
            as :class:`~examol_rdkit.features.FingerprintTransformer`, run by :meth:`transform_inputs`.
    """

    def __init__(self, pre_transform: Any | None = None):
        if pre_transform is not None and not hasattr(pre_transform, 'transform'):
            raise TypeError(f'pre_transform must be a transformer with a transform method (e.g. FingerprintTransformer); '
                            f'got {type(pre_transform).__name__}')
        self.pre_transform = pre_transform

    def __repr__(self) -> str:
        return f'RDKitScorer(pre_transform={self.pre_transform!r})'

    # Steering side

    def transform_inputs(self, records: Sequence[MoleculeRecord]) -> list[str] | np.ndarray:
        """SMILES of the records, or their features when the scorer has a ``pre_transform``.

        Raises:
            InvalidIdentifierError: (a ``ValueError``) naming the record (index and SMILES) that cannot be featurised.
        """
        smiles = [record.identifier.smiles for record in records]
        if self.pre_transform is None:
            return smiles
        return self.pre_transform.transform(smiles)

    def transform_smiles(self, smiles: Sequence[str]) -> list[str] | np.ndarray:
        """The SMILES themselves (or their features, with a ``pre_transform``): no record is needed.

        Fingerprints and descriptors depend on the molecule, not on how its SMILES is spelt, so
        these inputs score exactly as those of the molecules' records. An unparsable SMILES raises
        ``InvalidIdentifierError`` when it is featurised.
        """
        smiles = list(smiles)
        return smiles if self.pre_transform is None else self.pre_transform.transform(smiles)

    def prepare_message(self, model: ModelType, training: bool = False) -> ModelType:
        """The pipeline(s) to send to a worker.

        For training, a fresh clone of the pipeline (no fitted state: it is smaller, and the
        worker retrains from scratch); for inference, the fitted pipeline or one per level.

        Raises:
            ValueError: the model featurises SMILES itself but this scorer has a ``pre_transform``.
        """
        models = _as_levels(model, 'model')
        if self.pre_transform is not None and any(_featuriser(m) is not None for m in models):
            raise ValueError('This scorer featurises molecules on the steering side (pre_transform) but the model starts '
                             'with a FingerprintTransformer too: use the model without it (model[1:])')
        if training:
            return clone(models[0])
        return model

    def update(self, model: ModelType, update_msg: ModelType) -> ModelType:
        """The trained model: the pipeline, or the list of one pipeline per level, returned by :meth:`retrain`."""
        _as_levels(update_msg, 'update message')
        return update_msg

    def min_records(self, model: ModelType) -> int:
        """Its number of neighbours or cross-validation folds, and 2 for a Gaussian process."""
        return _min_records(_as_levels(model, 'model')[0])

    def save_model(self, model: ModelType, directory: Path) -> None:
        """Write the model into ``directory`` as skops + JSON (see :mod:`examol_rdkit.persistence`)."""
        from examol_rdkit.persistence import save_model

        save_model(model, directory)

    def load_model(self, directory: Path) -> ModelType:
        """Read a model written by :meth:`save_model`, trusting only :data:`examol_rdkit.TRUSTED_TYPES`."""
        from examol_rdkit.persistence import load_model

        return load_model(directory)

    # Worker side

    def _check_inputs(self, inputs: Any) -> Sequence[Any] | np.ndarray:
        if isinstance(inputs, (str, bytes)):
            raise TypeError('inputs must be a list of SMILES strings (from transform_inputs), not a single string: '
                            'wrap one molecule in a list')
        if not isinstance(inputs, (list, tuple, np.ndarray)):
            inputs = list(inputs)
        if self.pre_transform is not None and len(inputs) and isinstance(inputs[0], str):
            raise TypeError('This scorer featurises molecules on the steering side (pre_transform): pass the output of '
                            'transform_inputs, not SMILES strings')
        return inputs

    def retrain(self, model_msg: ModelType, inputs: Sequence[Any], outputs: np.ndarray,
                lower_fidelities: np.ndarray | None = None) -> ModelType:
        """Train fresh copies of the pipeline (may run on a remote worker).

        Args:
            model_msg: The pipeline from ``prepare_message(model, training=True)``; it is not modified.
            inputs: From :meth:`transform_inputs`.
            outputs: Labels of the highest level, NaN where unknown (allowed only with ``lower_fidelities``).
            lower_fidelities: ``(n, k)`` values of the k lower levels, lowest first, NaN where unknown.
        Returns:
            A fitted pipeline, or a list of k + 1 fitted pipelines (lowest level, then each delta)
            with ``lower_fidelities``.
        Raises:
            InvalidIdentifierError: (a ``ValueError``) naming an unparsable SMILES and its position.
            ShapeMismatchError, InvalidLabelsError: (``ValueError``) lengths that disagree, NaN labels
                in single-fidelity training, too few records for a level.
        """
        template = _as_levels(model_msg, 'model message')[0]
        inputs = self._check_inputs(inputs)
        outputs, lower = check_training_data(len(inputs), outputs, lower_fidelities, min_records=_min_records(template))
        if lower is None:
            levels = [(np.arange(len(outputs)), outputs)]
        else:
            levels = delta_targets(outputs, lower)

        # Featurise every molecule once, whatever the number of levels: this also checks every SMILES
        featuriser = _featuriser(template)
        features = inputs if featuriser is None else featuriser.transform(inputs)

        fitted = []
        with blas_threads(1) if len(inputs) < SMALL_TRAINING_SET else nullcontext():
            for rows, targets in levels:
                fitted.append(self._fit_level(template, featuriser, features, rows, targets))
        return fitted[0] if lower is None else fitted

    @staticmethod
    def _fit_level(template: Any, featuriser: FingerprintTransformer | None, features: Any, rows: np.ndarray,
                   targets: np.ndarray) -> Any:
        """A fresh clone of the template trained on some rows."""
        model = clone(template)
        if featuriser is None:
            model.fit(_take(features, rows), targets)
        else:
            model[0].fit(None)  # stateless; the slice below shares its step objects with ``model``
            model[1:].fit(features[rows], targets)
        return model

    def score(self, model_msg: ModelType, inputs: Sequence[Any],
              lower_fidelities: np.ndarray | None = None) -> np.ndarray:
        """Predict the highest level of fidelity for each input (may run on a remote worker).

        Molecules are featurised and scored in blocks of :data:`SCORE_CHUNK`, so memory does not
        grow with the number of inputs beyond the output itself.

        Args:
            model_msg: From ``prepare_message(model)``: one fitted pipeline or one per level.
            inputs: From :meth:`transform_inputs`.
            lower_fidelities: ``(n, k)`` known values of the k lower levels (NaN where unknown) for
                a model trained with k lower levels. Known values replace predicted deltas.
        Returns:
            ``(len(inputs),)`` float array.
        Raises:
            InvalidIdentifierError: (a ``ValueError``) naming an unparsable SMILES and its position.
            ShapeMismatchError: ``lower_fidelities`` does not match the inputs or the model's levels.
        """
        models = _as_levels(model_msg, 'model message')
        inputs = self._check_inputs(inputs)
        n = len(inputs)
        lower = check_lower_fidelities(n, lower_fidelities)
        if lower is not None and lower.shape[1] != len(models) - 1:
            trained = 'single-fidelity' if len(models) == 1 else f'with {len(models) - 1} lower levels'
            raise ShapeMismatchError(f'lower_fidelities has {lower.shape[1]} levels but the model was trained {trained}: '
                                     'pass the same lower levels as in training, or none')
        for level, model in enumerate(models):
            try:
                check_is_fitted(model)
            except NotFittedError:
                raise NotFittedError(f'The model message holds an untrained model (level {level}): train it with '
                                     'retrain() and fold the result in with update() before scoring') from None
        out = np.empty(n)
        if n == 0:
            return out

        featuriser = _shared_featuriser(models)
        regressors = models if featuriser is None else [model[1:] for model in models]
        levels = np.arange(len(models))
        for start, features in _feature_blocks(featuriser, inputs):
            stop = start + len(features)
            chunk_lower = None if lower is None else lower[start:stop]
            if len(models) == 1:
                out[start:stop] = regressors[0].predict(features)
                continue
            # A level's delta is needed only above the highest level already known for a molecule
            highest = -np.ones(stop - start, dtype=int) if chunk_lower is None else \
                np.where(~np.isnan(chunk_lower), levels[:-1], -1).max(axis=1, initial=-1)
            deltas = np.zeros((stop - start, len(models)))
            for level, regressor in enumerate(regressors):
                rows = np.flatnonzero(highest < level)
                if len(rows):
                    deltas[rows, level] = regressor.predict(_take(features, rows))
            out[start:stop] = predict_from_deltas(deltas, chunk_lower)
        return out
