"""The scorer protocol: how a machine-learning model is trained and run, locally or remotely.

A :class:`Scorer` holds no model. It holds the code that turns records into model inputs and
labels (on the steering side), packs a model into a message that can travel to a worker,
trains and scores from such messages (pure functions, safe to run on a remote worker), and
folds a training result back into the local model (steering side again).
"""
from __future__ import annotations

import abc
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from examol_core.errors import ExamolError
from examol_core.multifi import collect_outputs
from examol_core.recipes import PropertyRecipe
from examol_core.records import MoleculeRecord


class Scorer(abc.ABC):
    """Train and run a model that assigns a score to molecules.

    The six methods and where they run:

    * :meth:`transform_inputs` (steering side): records → model inputs, independent of the recipe.
    * :meth:`transform_outputs` (steering side): records → labels for one recipe (NaN where unknown).
    * :meth:`prepare_message` (steering side): model → a picklable message with no open handles.
    * :meth:`retrain` (may run on a remote worker): message + data → an update message.
    * :meth:`update` (steering side): model + update message → the retrained model.
    * :meth:`score` (may run on a remote worker): message + inputs → 1-D float array of scores.

    ``retrain`` and ``score`` are pure functions of their arguments: they never touch the local
    model. They take explicit keyword arguments only: an unknown keyword raises ``TypeError``.
    """

    @abc.abstractmethod
    def transform_inputs(self, records: Sequence[MoleculeRecord]) -> Sequence[Any]:
        """Form model inputs from records (runs on the steering side).

        Raises:
            ValueError: naming the record (index and SMILES) that cannot be turned into an input.
        """

    def transform_smiles(self, smiles: Sequence[str]) -> Sequence[Any]:
        """Model inputs for molecules given as SMILES: what :meth:`transform_inputs` gives for their records.

        ``examol score`` calls it on workers for every chunk of a SMILES file. The default makes
        a full record of each molecule (InChI and InChIKey included, about 2,000 molecules/s);
        a scorer whose inputs need only the molecule overrides it to skip that cost.

        Raises:
            ValueError: a SMILES that cannot be turned into an input (``InvalidIdentifierError``
                when RDKit cannot parse it).
        """
        return self.transform_inputs([MoleculeRecord.from_identifier(s) for s in smiles])

    def transform_outputs(self, records: Sequence[MoleculeRecord], recipe: PropertyRecipe) -> np.ndarray:
        """Labels for one recipe, NaN where a record lacks it (runs on the steering side)."""
        return collect_outputs(records, [recipe])[:, 0]

    @abc.abstractmethod
    def prepare_message(self, model: Any, training: bool = False) -> Any:
        """Pack the model into a picklable message for :meth:`retrain` or :meth:`score`.

        Args:
            model: The local model.
            training: Whether the message is for training (it may then omit fitted state).
        """

    @abc.abstractmethod
    def score(self, model_msg: Any, inputs: Sequence[Any]) -> np.ndarray:
        """Score inputs with a model message (may run on a remote worker).

        Returns:
            1-D float array, one score per input, in input order.
        """

    @abc.abstractmethod
    def retrain(self, model_msg: Any, inputs: Sequence[Any], outputs: np.ndarray) -> Any:
        """Train a model from a message on inputs and labels (may run on a remote worker).

        Raises:
            ValueError: inputs and outputs of different lengths, NaN labels, too few records.
        Returns:
            An update message for :meth:`update`.
        """

    @abc.abstractmethod
    def update(self, model: Any, update_msg: Any) -> Any:
        """Return the local model updated with the result of :meth:`retrain` (steering side)."""

    def min_records(self, model: Any) -> int:
        """Fewest labelled records ``model`` can train on (steering side).

        Checked before a task server starts, so that a training set that is too small fails at
        once with a clear message rather than on a worker. Override it when a model needs more
        than one record (neighbours, cross-validation folds).
        """
        return 1

    def save_model(self, model: Any, directory: Path) -> None:
        """Write a trained model into ``directory`` (steering side), in a format that is safe to load.

        Called by :func:`examol_core.modelfile.save_model_file`, which writes the manifest
        beside the payload. Prefer formats that loading cannot turn into code execution
        (skops for scikit-learn, JSON + weight arrays for Keras): never plain pickle.

        Args:
            model: The local model.
            directory: An existing, empty directory that belongs to this model.
        Raises:
            ExamolError: if this scorer cannot save models (the default).
        """
        raise ExamolError(f'Scorer {type(self).__name__} cannot save models: its plugin does not implement '
                          'save_model/load_model. Keep the model in memory, or ask the plugin author to add them.')

    def load_model(self, directory: Path) -> Any:
        """Read a model written by :meth:`save_model` from ``directory`` (steering side).

        Raises:
            ExamolError: if this scorer cannot load models (the default), or the payload is unreadable.
        """
        raise ExamolError(f'Scorer {type(self).__name__} cannot load models: its plugin does not implement '
                          'save_model/load_model.')


class MultiFidelityScorer(Scorer):
    """A scorer that learns from lower levels of fidelity (delta learning).

    :meth:`score` and :meth:`retrain` take ``lower_fidelities``: an ``(n, k)`` array of the k lower
    levels, lowest first, NaN where unknown (see :func:`examol_core.multifi.collect_outputs`).
    Training learns the lowest level and the k deltas between successive levels, each from the
    records that know it. Inference predicts each delta, lets known lower levels replace
    predictions, and returns the estimate of the highest level
    (:func:`examol_core.multifi.predict_from_deltas`). With ``lower_fidelities=None`` the scorer
    behaves as single-fidelity.
    """

    @abc.abstractmethod
    def score(self, model_msg: Any, inputs: Sequence[Any], lower_fidelities: np.ndarray | None = None) -> np.ndarray:
        """Score inputs; with ``lower_fidelities``, return the estimate of the highest level."""

    @abc.abstractmethod
    def retrain(self, model_msg: Any, inputs: Sequence[Any], outputs: np.ndarray,
                lower_fidelities: np.ndarray | None = None) -> Any:
        """Train; with ``lower_fidelities``, learn the lowest level and the deltas above it."""
