"""The NFP scorer: message-passing networks trained and run through the examol scorer contract.

Where each method runs: :meth:`NFPScorer.transform_inputs`, :meth:`~NFPScorer.prepare_message`
and :meth:`~NFPScorer.update` on the steering side; :meth:`~NFPScorer.retrain` and
:meth:`~NFPScorer.score` on a worker (they are pure functions of their arguments). Importing this
module does not import TensorFlow: turning records into graphs needs only RDKit.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

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
from examol_nfp.data import PackedGraphs, to_graphs
from examol_nfp.message import MESSAGE_FORMAT, NFPMessage, check_weights

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = ['NFPScorer']

UpdateMessage = tuple[list[np.ndarray], dict[str, list[float]]]

ARCHITECTURE_FILE = 'architecture.json'
WEIGHTS_FILE = 'weights.npz'
FORMAT_FILE = 'examol-nfp.json'


def _version(distribution: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return 'unknown'


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if not value > 0:
            raise ValueError(f'{name} must be positive; got {value!r}')


class NFPScorer(MultiFidelityScorer):
    """Score molecules with an MPNN built by :func:`examol_nfp.model.make_simple_network`.

    Inputs are graph dictionaries (:func:`examol_nfp.data.smiles_to_graph`); :meth:`score` also
    accepts SMILES strings or records directly, converting them chunk by chunk, which suits large
    search spaces. For ``k`` lower levels of fidelity, build the network with ``outputs=k + 1``.

    Args:
        retrain_from_scratch: Whether :meth:`retrain` starts from fresh random weights (the
            training message then carries only the architecture) or from the current weights.
    """

    def __init__(self, retrain_from_scratch: bool = True):
        self.retrain_from_scratch = retrain_from_scratch

    def __repr__(self) -> str:
        return f'NFPScorer(retrain_from_scratch={self.retrain_from_scratch!r})'

    # Steering side
    def transform_inputs(self, records: Sequence[MoleculeRecord | str]) -> list[dict[str, np.ndarray]]:
        """Graph dictionaries (atom types, bond types, sorted connectivity) for records or SMILES strings.

        Raises:
            InvalidIdentifierError: an identifier RDKit cannot parse (with its position).
            UnsupportedMoleculeError: a molecule with an atom that has no bond (a ``ValueError``).
        """
        return to_graphs(records)

    def transform_smiles(self, smiles: Sequence[str]) -> list[dict[str, np.ndarray]]:
        """Graph dictionaries of the molecules' canonical SMILES (as their records give), without making records.

        Raises:
            InvalidIdentifierError: a SMILES RDKit cannot parse (with its position).
            UnsupportedMoleculeError: a molecule with an atom that has no bond (a ``ValueError``).
        """
        from rdkit import Chem

        from examol_core.errors import InvalidIdentifierError
        from examol_core.records import parse_identifier

        canonical = []
        for i, smi in enumerate(smiles):
            try:
                canonical.append(Chem.MolToSmiles(parse_identifier(smi)))
            except InvalidIdentifierError as exc:
                raise InvalidIdentifierError(smi, i, reason=exc.reason) from None
        return to_graphs(canonical)

    def prepare_message(self, model: 'tf.keras.Model', training: bool = False) -> str | NFPMessage:
        """The architecture alone (JSON) to train from scratch, otherwise an :class:`NFPMessage`."""
        if not (hasattr(model, 'to_json') and hasattr(model, 'get_weights')):
            raise TypeError(f'NFPScorer needs a tf.keras model (from make_simple_network); got {type(model).__name__}')
        if training and self.retrain_from_scratch:
            return model.to_json()
        return NFPMessage.from_model(model)

    def update(self, model: 'tf.keras.Model', update_msg: UpdateMessage) -> 'tf.keras.Model':
        """Load the weights from :meth:`retrain` into ``model`` (checked first; ``model`` is unchanged on error)."""
        try:
            weights, _ = update_msg
        except (TypeError, ValueError):
            raise IncompatibleVersionError(f'Expected the (weights, history) pair returned by NFPScorer.retrain; got '
                                           f'{type(update_msg).__name__}') from None
        check_weights(model, weights)
        model.set_weights(weights)
        return model

    def save_model(self, model: 'tf.keras.Model', directory: Path) -> None:
        """Write the network as JSON architecture + ``.npz`` weights (steering side; no pickle involved)."""
        from examol_nfp import __version__
        from examol_nfp.message import model_to_arrays

        config, weights = model_to_arrays(model)
        directory = Path(directory)
        (directory / ARCHITECTURE_FILE).write_text(config)
        np.savez(directory / WEIGHTS_FILE, **{f'w{i:04d}': w for i, w in enumerate(weights)})
        versions = {name: _version(name) for name in ('tensorflow', 'tf-keras', 'nfp')}
        (directory / FORMAT_FILE).write_text(json.dumps({'format': MESSAGE_FORMAT, 'examol_nfp': __version__,
                                                         'weights': len(weights), **versions}))

    def load_model(self, directory: Path) -> 'tf.keras.Model':
        """Read a network written by :meth:`save_model`; the weights load without pickle.

        Raises:
            IncompatibleVersionError: files missing, another format, or weights that do not fit.
        """
        from examol_nfp.message import model_from_arrays

        directory = Path(directory)
        try:
            info = json.loads((directory / FORMAT_FILE).read_text())
            config = (directory / ARCHITECTURE_FILE).read_text()
            with np.load(directory / WEIGHTS_FILE, allow_pickle=False) as data:
                weights = [data[f'w{i:04d}'] for i in range(int(info['weights']))]
        except (OSError, KeyError, ValueError) as exc:
            raise IncompatibleVersionError(f'{directory} does not hold a network saved by examol-nfp: {exc}') from None
        if info.get('format') != MESSAGE_FORMAT:
            raise IncompatibleVersionError(f'{directory} holds a network in examol-nfp format {info.get("format")!r} '
                                           f'(written by examol-nfp {info.get("examol_nfp")}); this version reads '
                                           f'format {MESSAGE_FORMAT}')
        return model_from_arrays(config, weights)

    # Worker side
    def score(self, model_msg: NFPMessage, inputs: Sequence[Any], lower_fidelities: np.ndarray | None = None, *,
              batch_size: int = 256, chunk_size: int = 16384) -> np.ndarray:
        """Predict the highest level of fidelity for each input (may run on a remote worker).

        Args:
            model_msg: From :meth:`prepare_message` (``training=False``).
            inputs: Graph dictionaries from :meth:`transform_inputs`, or SMILES strings or records.
            lower_fidelities: ``(n, k)`` known lower levels (NaN where unknown) for a network with
                ``k + 1`` outputs; known levels replace predictions
                (:func:`examol_core.multifi.predict_from_deltas`).
            batch_size: Molecules per forward pass.
            chunk_size: Inputs converted, packed and predicted at a time, bounding memory use over
                large search spaces.
        Returns:
            ``(len(inputs),)`` float array.
        Raises:
            IncompatibleVersionError: the message is not an ``NFPMessage`` this plugin can read.
            ShapeMismatchError: ``lower_fidelities`` does not match the inputs or the network's outputs.
        """
        _check_positive(batch_size=batch_size, chunk_size=chunk_size)
        lower = check_lower_fidelities(len(inputs), lower_fidelities)
        if not isinstance(model_msg, NFPMessage):
            hint = (' (a JSON architecture is a training message: use prepare_message(model) to score)'
                    if isinstance(model_msg, str) else '')
            raise IncompatibleVersionError(f'NFPScorer.score needs an NFPMessage; got {type(model_msg).__name__}{hint}')
        model = model_msg.get_model()
        from examol_nfp.model import output_count
        from examol_nfp.training import predict

        outputs = output_count(model)
        if lower is not None and lower.shape[1] != outputs - 1:
            raise ShapeMismatchError(f'lower_fidelities has {lower.shape[1]} levels but the network has {outputs} '
                                     f'outputs, so it expects {outputs - 1} lower levels')
        predict_batch = model_msg.get_predict_function()
        deltas = np.zeros((len(inputs), outputs))
        for start in range(0, len(inputs), chunk_size):
            chunk = inputs[start:start + chunk_size]
            packed = PackedGraphs.from_graphs(to_graphs(chunk, start), start)
            deltas[start:start + len(packed)] = predict(predict_batch, packed, batch_size)
        return predict_from_deltas(deltas, lower)

    def retrain(self, model_msg: str | NFPMessage, inputs: Sequence[Any], outputs: np.ndarray,
                lower_fidelities: np.ndarray | None = None, *, num_epochs: int = 32, batch_size: int = 32,
                validation_split: float = 0.1, learning_rate: float = 1e-3, patience: int | None = 8,
                timeout: float | None = None, verbose: bool = False) -> UpdateMessage:
        """Train a network (may run on a remote worker); the weights of the best validation epoch are returned.

        With ``lower_fidelities`` (``(n, k)``, NaN allowed) the network's ``k + 1`` outputs learn the
        lowest level and the deltas between successive levels; the loss ignores unknown (NaN)
        values, so a record trains every level it knows. Without, a network with several outputs
        learns their sum, which is what :meth:`score` returns with ``lower_fidelities=None``.
        When training from scratch, each output's ``scale_{i}`` layer starts at the mean and
        standard deviation of its labels.

        Args:
            model_msg: From :meth:`prepare_message` with ``training=True``: a JSON architecture
                (train from scratch) or an :class:`NFPMessage` (continue from its weights).
            inputs: Graph dictionaries from :meth:`transform_inputs`.
            outputs: ``(n,)`` labels at the highest level (NaN allowed only with lower fidelities).
            lower_fidelities: ``(n, k)`` lower levels, lowest first, or ``None``.
            num_epochs: Maximum number of passes over the training set.
            batch_size: Molecules per gradient step.
            validation_split: Fraction of records held out to pick the best epoch and stop early.
                With 0, the training loss decides when to stop and the last epoch's weights are kept.
            learning_rate: Initial learning rate of Adam; decays to 1% of it along a cosine.
            patience: Epochs without improvement before stopping (``None``: never stop early).
            timeout: Wall-clock limit in seconds (``None``: none); the best weights so far are kept.
            verbose: Print one line per epoch.
        Returns:
            ``(weights, history)``: the weights for :meth:`update` and the per-epoch history
            (``loss``, ``val_loss`` when validating, ``lr``, ``epoch_time``, ``epoch_cpu_time``).
        Raises:
            ShapeMismatchError: inputs, outputs, lower fidelities and network outputs disagree.
            InvalidLabelsError: NaN labels in single-fidelity training, or a level with no label.
            IncompatibleVersionError: a message this plugin cannot read.
        """
        outputs, lower = check_training_data(len(inputs), outputs, lower_fidelities, min_records=1)
        _check_positive(num_epochs=num_epochs, batch_size=batch_size, learning_rate=learning_rate)
        if not 0 <= validation_split < 1:
            raise ValueError(f'validation_split must be in [0, 1); got {validation_split!r}')
        labels = outputs[:, None] if lower is None else compute_deltas(stack_levels(outputs, lower))
        packed = PackedGraphs.from_graphs(to_graphs(inputs))

        from examol_nfp.message import model_from_arrays
        from examol_nfp.model import output_count
        from examol_nfp.steps import training_steps, unoptimised_graphs
        from examol_nfp.training import initialise_scales, train

        if isinstance(model_msg, str):
            config, model, from_scratch = model_msg, model_from_arrays(model_msg), True  # fresh random weights
        elif isinstance(model_msg, NFPMessage):
            config, model, from_scratch = model_msg.config, model_msg.build_model(), False
        else:
            raise IncompatibleVersionError(f'NFPScorer.retrain needs a JSON architecture or an NFPMessage from '
                                           f'prepare_message(model, training=True); got {type(model_msg).__name__}')
        count = output_count(model)
        # Single fidelity on a network with k + 1 outputs: its estimate is the sum of the outputs
        # (what score returns with lower_fidelities=None), so train that sum
        sum_outputs = lower is None and count > 1
        if count != labels.shape[1] and not sum_outputs:
            raise ShapeMismatchError(f'The network has {count} outputs but the labels have {labels.shape[1]} levels '
                                     f'({labels.shape[1] - 1} lower fidelities + the target); build the network with '
                                     f'make_simple_network(outputs={labels.shape[1]})')
        if from_scratch:
            initialise_scales(model, labels if not sum_outputs else
                              np.column_stack([outputs, np.zeros((len(outputs), count - 1))]))
        # The network built above supplies the starting weights: training runs in steps this worker
        # may already have compiled for the same architecture in an earlier retrain, or else in new
        # steps around that network
        with training_steps(config, labels.shape[1], sum_outputs, model) as steps:
            steps.reset(None if steps.model is model else model.get_weights())
            with unoptimised_graphs():
                history = train(steps, packed, labels, num_epochs=num_epochs, batch_size=batch_size,
                                validation_split=validation_split, learning_rate=learning_rate, patience=patience,
                                timeout=timeout, verbose=verbose, sum_outputs=sum_outputs)
            weights = [np.array(w) for w in steps.model.get_weights()]
        return weights, history
