"""The chemprop scorer: D-MPNNs trained and run through the examol scorer contract.

Where each method runs: :meth:`ChempropScorer.transform_inputs`, :meth:`~ChempropScorer.prepare_message`,
:meth:`~ChempropScorer.update`, :meth:`~ChempropScorer.save_model` and
:meth:`~ChempropScorer.load_model` on the steering side, without PyTorch;
:meth:`~ChempropScorer.retrain` and :meth:`~ChempropScorer.score` on a worker (pure functions of
their arguments), where the chemprop module is rebuilt.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from examol_chemprop.data import featurise, to_smiles
from examol_chemprop.message import ChempropMessage
from examol_chemprop.model import ChempropModel, check_weights
from examol_chemprop.persistence import load_network, save_network
from examol_core.errors import IncompatibleVersionError, ShapeMismatchError
from examol_core.multifi import (
    check_lower_fidelities,
    check_training_data,
    compute_deltas,
    predict_from_deltas,
    stack_levels,
)
from examol_core.records import MoleculeRecord
from examol_core.scorer import MultiFidelityScorer

__all__ = ['ChempropScorer']

UpdateMessage = tuple[dict[str, np.ndarray], dict[str, list[float]]]


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if not value > 0:
            raise ValueError(f'{name} must be positive; got {value!r}')


def _check_message(model_msg: Any, method: str) -> ChempropMessage:
    if not isinstance(model_msg, ChempropMessage):
        raise IncompatibleVersionError(f'ChempropScorer.{method} needs a ChempropMessage from '
                                       f'ChempropScorer.prepare_message; got {type(model_msg).__name__}')
    return model_msg


class ChempropScorer(MultiFidelityScorer):
    """Score molecules with a chemprop D-MPNN (:func:`examol_chemprop.model.make_mpnn`).

    Inputs are canonical SMILES, checked on the steering side and featurised by the worker
    (:mod:`examol_chemprop.data` says why). For ``k`` lower levels of fidelity, build the network
    with ``outputs=k + 1``.

    Args:
        retrain_from_scratch: Whether :meth:`retrain` starts from fresh random weights (the
            training message then carries only the architecture) or from the current weights.
    """

    def __init__(self, retrain_from_scratch: bool = True):
        self.retrain_from_scratch = retrain_from_scratch

    def __repr__(self) -> str:
        return f'ChempropScorer(retrain_from_scratch={self.retrain_from_scratch!r})'

    # Steering side
    def transform_inputs(self, records: Sequence[MoleculeRecord | str]) -> list[str]:
        """Canonical SMILES of records (or SMILES/InChI strings), each parsed once by RDKit.

        Raises:
            InvalidIdentifierError: a string RDKit cannot parse, or an input of another type (with its position).
        """
        return to_smiles(records)

    def prepare_message(self, model: ChempropModel, training: bool = False) -> ChempropMessage:
        """The architecture and weights of ``model``; without weights for training from scratch."""
        if not isinstance(model, ChempropModel):
            raise TypeError(f'ChempropScorer needs a ChempropModel (from make_mpnn); got {type(model).__name__}')
        return ChempropMessage.from_model(model, with_weights=not (training and self.retrain_from_scratch))

    def update(self, model: ChempropModel, update_msg: UpdateMessage) -> ChempropModel:
        """Load the weights from :meth:`retrain` into ``model`` (checked first; ``model`` is unchanged on error)."""
        try:
            weights, _ = update_msg
        except (TypeError, ValueError):
            raise IncompatibleVersionError(f'Expected the (weights, history) pair returned by ChempropScorer.retrain; '
                                           f'got {type(update_msg).__name__}') from None
        model.weights = check_weights(model.config, weights)
        return model

    def save_model(self, model: ChempropModel, directory: Path) -> None:
        """Write the architecture (JSON) and the weights (safetensors): loading them cannot run code."""
        save_network(model, Path(directory))

    def load_model(self, directory: Path) -> ChempropModel:
        """Read a network written by :meth:`save_model`, checking sizes, names and shapes before use.

        Raises:
            IncompatibleVersionError: files missing, too large, in another format, or weights that do not fit.
        """
        return load_network(Path(directory))

    # Worker side
    def score(self, model_msg: ChempropMessage, inputs: Sequence[Any], lower_fidelities: np.ndarray | None = None, *,
              batch_size: int = 256, chunk_size: int = 8192, device: str = 'cpu') -> np.ndarray:
        """Predict the highest level of fidelity for each input (may run on a remote worker).

        Args:
            model_msg: From :meth:`prepare_message` (``training=False``) of a trained model.
            inputs: SMILES from :meth:`transform_inputs` (records and chemprop ``MolGraph`` objects work too).
            lower_fidelities: ``(n, k)`` known lower levels (NaN where unknown) for a network with
                ``k + 1`` outputs; known levels replace predictions
                (:func:`examol_core.multifi.predict_from_deltas`).
            batch_size: Molecules per forward pass.
            chunk_size: Molecules featurised at a time, bounding memory over large search spaces.
            device: ``cpu``, ``cuda`` or ``auto`` (a GPU if the worker has one).
        Returns:
            ``(len(inputs),)`` float array, in input order.
        Raises:
            UntrainedModelError: the model was never trained.
            ShapeMismatchError: ``lower_fidelities`` does not match the inputs or the network's outputs.
        """
        _check_positive(batch_size=batch_size, chunk_size=chunk_size)
        lower = check_lower_fidelities(len(inputs), lower_fidelities)
        config = _check_message(model_msg, 'score').get_config()
        if lower is not None and lower.shape[1] != config.outputs - 1:
            raise ShapeMismatchError(f'lower_fidelities has {lower.shape[1]} levels but the network has {config.outputs} '
                                     f'outputs, so it expects {config.outputs - 1} lower levels')
        from examol_chemprop.training import predict, resolve_device

        target = resolve_device(device)
        network = model_msg.get_network()
        deltas = np.zeros((len(inputs), config.outputs))
        for start in range(0, len(inputs), chunk_size):
            graphs = featurise(inputs[start:start + chunk_size], start)
            deltas[start:start + len(graphs)] = predict(network, graphs, batch_size, target)
        return predict_from_deltas(deltas, lower)

    def retrain(self, model_msg: ChempropMessage, inputs: Sequence[Any], outputs: np.ndarray,
                lower_fidelities: np.ndarray | None = None, *, num_epochs: int = 50, batch_size: int = 50,
                validation_split: float = 0.1, learning_rate: float = 1e-3, patience: int | None = 10,
                timeout: float | None = None, seed: int | None = None, device: str = 'cpu',
                verbose: bool = False) -> UpdateMessage:
        """Train a network (may run on a remote worker); the weights of the best validation epoch are returned.

        With ``lower_fidelities`` (``(n, k)``, NaN allowed) the network's ``k + 1`` outputs learn the
        lowest level and the deltas between successive levels; the loss ignores unknown values,
        so a record trains every level it knows. Without, a network with several outputs learns
        their sum, which is what :meth:`score` returns with ``lower_fidelities=None``. Training
        from scratch sets each output's scale to the mean and spread of its labels.

        Args:
            model_msg: From :meth:`prepare_message` with ``training=True``.
            inputs: SMILES from :meth:`transform_inputs`.
            outputs: ``(n,)`` labels at the highest level (NaN allowed only with lower fidelities).
            lower_fidelities: ``(n, k)`` lower levels, lowest first, or ``None``.
            num_epochs: Maximum passes over the training set (chemprop's default is 50).
            batch_size: Molecules per gradient step (chemprop's default is 50).
            validation_split: Fraction of records held out to pick the best epoch and stop early;
                with 0 the last epoch's weights are kept.
            learning_rate: Peak learning rate of Adam in chemprop's warm-up/decay schedule.
            patience: Epochs without improvement before stopping (``None``: never stop early).
            timeout: Wall-clock limit in seconds after which training stops (best weights kept).
            seed: Seeds the initial weights, dropout and batch order, for repeatable runs.
            device: ``cpu`` (default), ``cuda`` or ``auto`` (a GPU if the worker has one).
            verbose: Print one line per epoch.
        Returns:
            ``(weights, history)``: arrays by name for :meth:`update`, and per-epoch ``loss``,
            ``val_loss`` (when validating), ``lr``, ``epoch_time`` and ``epoch_cpu_time``.
        Raises:
            ShapeMismatchError: inputs, outputs, lower fidelities and network outputs disagree.
            InvalidLabelsError: NaN labels in single-fidelity training, or a level with no label.
            TrainingDivergedError: the loss was never finite.
        """
        outputs, lower = check_training_data(len(inputs), outputs, lower_fidelities, min_records=1)
        _check_positive(num_epochs=num_epochs, batch_size=batch_size, learning_rate=learning_rate)
        if not 0 <= validation_split < 1:
            raise ValueError(f'validation_split must be in [0, 1); got {validation_split!r}')
        config = _check_message(model_msg, 'retrain').get_config()
        labels = outputs[:, None] if lower is None else compute_deltas(stack_levels(outputs, lower))
        # Single fidelity on a network with k + 1 outputs: its estimate is the sum of the outputs
        # (what score returns with lower_fidelities=None), so train that sum
        sum_outputs = lower is None and config.outputs > 1
        if config.outputs != labels.shape[1] and not sum_outputs:
            raise ShapeMismatchError(f'The network has {config.outputs} outputs but the labels have {labels.shape[1]} '
                                     f'levels ({labels.shape[1] - 1} lower fidelities + the target); build it with '
                                     f'make_mpnn(outputs={labels.shape[1]})')
        graphs = featurise(inputs)

        import torch

        from examol_chemprop.model import network_weights
        from examol_chemprop.training import initialise_scales, resolve_device, train

        target = resolve_device(device)
        if seed is not None:
            torch.manual_seed(seed)
        network = model_msg.build_network()
        if model_msg.weights is None:
            initialise_scales(network, labels if not sum_outputs else
                              np.column_stack([outputs, np.zeros((len(outputs), config.outputs - 1))]))
        history = train(network, graphs, labels, num_epochs=num_epochs, batch_size=batch_size,
                        validation_split=validation_split, learning_rate=learning_rate, patience=patience,
                        timeout=timeout, sum_outputs=sum_outputs, rng=np.random.default_rng(seed), device=target,
                        verbose=verbose)
        return network_weights(network.cpu()), history
