"""A network in a form that travels: JSON architecture plus weights as NumPy arrays.

:class:`NFPMessage` is what :meth:`NFPScorer.prepare_message <examol_nfp.scorer.NFPScorer.prepare_message>`
sends to workers and what a model store can persist: ``config`` (``model.to_json()``) and
``weights`` (``model.get_weights()``) are plain Python and NumPy objects. The live Keras model is
never pickled; a worker rebuilds it on first use and keeps the last few networks it rebuilt, by
content, so repeated tasks with the same message do not rebuild it.

This module does not import TensorFlow until a model is rebuilt.
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import numpy as np

from examol_core.errors import IncompatibleVersionError

if TYPE_CHECKING:
    import tensorflow as tf

MESSAGE_FORMAT = 1
"""Version of the message layout; bumped when a message from an older plugin could be misread."""

__all__ = ['NFPMessage', 'MESSAGE_FORMAT', 'MODEL_CACHE_SIZE', 'model_to_arrays', 'model_from_arrays', 'check_weights',
           'content_key']


def model_to_arrays(model: 'tf.keras.Model') -> tuple[str, list[np.ndarray]]:
    """Split a network into its JSON architecture and a list of weight arrays (copies)."""
    return model.to_json(), [np.array(w, copy=True) for w in model.get_weights()]


def model_from_arrays(config: str, weights: list[np.ndarray] | None = None) -> 'tf.keras.Model':
    """Rebuild a network from :func:`model_to_arrays` output (fresh random weights if ``weights`` is None).

    Raises:
        IncompatibleVersionError: the architecture cannot be read, or the weights do not fit it.
    """
    from examol_nfp import import_tensorflow
    from examol_nfp.model import custom_objects

    tf = import_tensorflow()

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


def content_key(config: str, weights: list[np.ndarray]) -> str:
    """A digest of an architecture and its weights: equal for equal networks."""
    digest = hashlib.blake2b(config.encode(), digest_size=16)
    for w in weights:
        w = np.ascontiguousarray(w)
        digest.update(f'{w.dtype.str}{w.shape}'.encode())
        digest.update(w.view(np.uint8).reshape(-1))
    return digest.hexdigest()


class _Loaded:
    """A rebuilt network and, once needed, its compiled inference function."""

    def __init__(self, model: Any):
        self.model = model
        self.predict: Any = None


MODEL_CACHE_SIZE = 2
"""Rebuilt networks kept per process, by content. A worker scoring a search space in chunks
receives the same message for every chunk: it builds and traces the network once, not per chunk
(which would also grow memory, as every tf-keras model built leaves about 1 MB behind)."""

_cache: OrderedDict[str, _Loaded] = OrderedDict()
_cache_lock = threading.Lock()


def _load(key: str, config: str, weights: list[np.ndarray]) -> _Loaded:
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
        loaded = _Loaded(model_from_arrays(config, weights))
        _cache[key] = loaded
        while len(_cache) > MODEL_CACHE_SIZE:
            _cache.popitem(last=False)
        return loaded


class NFPMessage:
    """A network packed for a worker: JSON architecture and NumPy weights, rebuilt lazily.

    Attributes:
        config: The architecture, as written by ``model.to_json()``.
        weights: The weights, as written by ``model.get_weights()``.
        key: Digest of both (:func:`content_key`), computed where the message is made.
        format: :data:`MESSAGE_FORMAT` of the plugin that wrote the message.
    """

    def __init__(self, config: str, weights: list[np.ndarray]):
        self.config = config
        self.weights = [np.asarray(w) for w in weights]
        self.key = content_key(config, self.weights)
        self.format = MESSAGE_FORMAT
        self._loaded: _Loaded | None = None

    @classmethod
    def from_model(cls, model: 'tf.keras.Model') -> 'NFPMessage':
        """Pack a network; the message holds copies, so later changes to ``model`` do not affect it."""
        return cls(*model_to_arrays(model))

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state['_loaded'] = None
        return state

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
        """A new network with the message's weights, for the caller alone (e.g. to train it further)."""
        self.check_format()
        return model_from_arrays(self.config, self.weights)

    def _get_loaded(self) -> _Loaded:
        if self._loaded is None:
            self.check_format()
            self._loaded = _load(self.key, self.config, self.weights)
        return self._loaded

    def get_model(self) -> 'tf.keras.Model':
        """The network, rebuilt on first use and cached in this process (never pickled).

        Treat the result as read-only: it is shared by later calls on this message and on any
        message with the same architecture and weights.
        """
        return self._get_loaded().model

    def get_predict_function(self) -> Any:
        """A compiled inference function for :meth:`get_model` (see :func:`examol_nfp.training.make_predict_function`)."""
        loaded = self._get_loaded()
        with _cache_lock:
            if loaded.predict is None:
                from examol_nfp.training import make_predict_function

                loaded.predict = make_predict_function(loaded.model)
            return loaded.predict
