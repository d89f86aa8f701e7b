"""A network in a form that travels: JSON architecture plus weights as NumPy arrays.

:class:`NFPMessage` is what :meth:`NFPScorer.prepare_message <examol_nfp.scorer.NFPScorer.prepare_message>`
sends to workers and what a model store can persist: ``config`` (``model.to_json()``) and
``weights`` (``model.get_weights()``) are plain Python and NumPy objects. The live Keras model is
never pickled; a worker rebuilds it on first use and caches it for later calls in the same process.

This module does not import TensorFlow until a model is rebuilt.
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from examol_core.errors import IncompatibleVersionError

if TYPE_CHECKING:
    import tensorflow as tf

MESSAGE_FORMAT = 1
"""Version of the message layout; bumped when a message from an older plugin could be misread."""

__all__ = ['NFPMessage', 'MESSAGE_FORMAT', 'model_to_arrays', 'model_from_arrays']


def model_to_arrays(model: 'tf.keras.Model') -> tuple[str, list[np.ndarray]]:
    """Split a network into its JSON architecture and a list of weight arrays (copies)."""
    return model.to_json(), [np.array(w, copy=True) for w in model.get_weights()]


def model_from_arrays(config: str, weights: list[np.ndarray] | None = None) -> 'tf.keras.Model':
    """Rebuild a network from :func:`model_to_arrays` output (fresh random weights if ``weights`` is None).

    Raises:
        IncompatibleVersionError: the architecture cannot be read, or the weights do not fit it.
    """
    import tensorflow as tf

    from examol_nfp.model import custom_objects

    try:
        model = tf.keras.models.model_from_json(config, custom_objects=custom_objects)
    except (ValueError, TypeError, KeyError) as exc:
        raise IncompatibleVersionError(f'Cannot rebuild the network from its JSON architecture ({exc}); was it '
                                       'written by a different version of examol-nfp, nfp or tf-keras?') from None
    if weights is not None:
        check_weights(model, weights)
        model.set_weights(weights)
    return model


def check_weights(model: 'tf.keras.Model', weights: list[np.ndarray]) -> None:
    """Check that ``weights`` fit ``model`` before touching it.

    Raises:
        IncompatibleVersionError: naming the first weight whose shape differs.
    """
    expected = [tuple(w.shape) for w in model.weights]
    given = [tuple(np.shape(w)) for w in weights]
    if len(expected) != len(given):
        raise IncompatibleVersionError(f'The network has {len(expected)} weight arrays but {len(given)} were given: '
                                       'the weights come from a different architecture')
    for i, (var, want, got) in enumerate(zip(model.weights, expected, given, strict=True)):
        if want != got:
            raise IncompatibleVersionError(f'Weight {i} ({var.name}) has shape {want} in the network but {got} in the '
                                           'weights given: they come from a different architecture')


class NFPMessage:
    """A network packed for a worker: JSON architecture and NumPy weights, rebuilt lazily.

    Attributes:
        config: The architecture, as written by ``model.to_json()``.
        weights: The weights, as written by ``model.get_weights()``.
        format: :data:`MESSAGE_FORMAT` of the plugin that wrote the message.
    """

    def __init__(self, config: str, weights: list[np.ndarray]):
        self.config = config
        self.weights = [np.asarray(w) for w in weights]
        self.format = MESSAGE_FORMAT
        self._model: Any = None
        self._predict: Any = None
        self._lock = threading.Lock()

    @classmethod
    def from_model(cls, model: 'tf.keras.Model') -> 'NFPMessage':
        """Pack a network; the message holds copies, so later changes to ``model`` do not affect it."""
        return cls(*model_to_arrays(model))

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state['_model'] = None
        state['_predict'] = None
        del state['_lock']
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        count = sum(int(np.size(w)) for w in self.weights)
        return f'NFPMessage({len(self.weights)} weight arrays, {count} parameters)'

    def check_format(self) -> None:
        """Raise :class:`IncompatibleVersionError` if another plugin version wrote this message."""
        if getattr(self, 'format', None) != MESSAGE_FORMAT:
            raise IncompatibleVersionError(f'This NFPMessage has format {getattr(self, "format", None)!r}; this '
                                           f'examol-nfp reads format {MESSAGE_FORMAT}. Re-create it with '
                                           'NFPScorer.prepare_message using the same examol-nfp version')

    def build_model(self) -> 'tf.keras.Model':
        """A new network with the message's weights (not shared with other callers)."""
        self.check_format()
        return model_from_arrays(self.config, self.weights)

    def get_model(self) -> 'tf.keras.Model':
        """The network, rebuilt on first call and cached in this process (never pickled).

        Treat the result as read-only: it is shared by every later call on this message.
        """
        with self._lock:
            if self._model is None:
                self._model = self.build_model()
            return self._model

    def get_predict_function(self) -> Any:
        """A compiled inference function for the cached network (see :func:`examol_nfp.training.make_predict_function`)."""
        model = self.get_model()
        with self._lock:
            if self._predict is None:
                from examol_nfp.training import make_predict_function

                self._predict = make_predict_function(model)
            return self._predict
