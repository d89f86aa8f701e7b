"""A network in a form that travels: JSON architecture plus NumPy weights, rebuilt lazily on the worker.

:class:`ChempropMessage` is what :meth:`ChempropScorer.prepare_message
<examol_chemprop.scorer.ChempropScorer.prepare_message>` sends to workers. It pickles as plain
JSON and arrays (never a PyTorch module); a worker rebuilds the chemprop module on first use and
keeps the last few it rebuilt, by content digest, so the chunks of one scoring job build it once.

This module does not import PyTorch until a network is rebuilt.
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

import numpy as np

from examol_chemprop.model import ChempropModel, MPNNConfig, build_network, check_weights
from examol_core.errors import ExamolError, IncompatibleVersionError

if TYPE_CHECKING:
    from chemprop.models import MPNN

MESSAGE_FORMAT = 1
"""Version of the message layout; bumped when a message from an older plugin could be misread."""

MODEL_CACHE_SIZE = 2
"""Rebuilt networks kept per process, by content digest."""

__all__ = ['ChempropMessage', 'MESSAGE_FORMAT', 'MODEL_CACHE_SIZE', 'UntrainedModelError', 'content_key']


class UntrainedModelError(ExamolError, ValueError):
    """Scoring with a network that has never been trained."""


def content_key(config: str, weights: dict[str, np.ndarray] | None) -> str:
    """A digest of an architecture and its weights: equal for equal networks."""
    digest = hashlib.blake2b(config.encode(), digest_size=16)
    for name in sorted(weights or {}):
        w = np.ascontiguousarray(weights[name])
        digest.update(f'{name}{w.dtype.str}{w.shape}'.encode())
        digest.update(w.view(np.uint8).reshape(-1))
    return digest.hexdigest()


_cache: OrderedDict[str, 'MPNN'] = OrderedDict()
_cache_lock = threading.Lock()


class ChempropMessage:
    """A chemprop network packed for a worker.

    Attributes:
        config: The architecture as JSON (:meth:`MPNNConfig.to_json`).
        weights: ``state_dict`` arrays by name, or ``None`` for an untrained network (a training
            message that starts from scratch).
        key: Digest of both, computed where the message is made.
        format: :data:`MESSAGE_FORMAT` of the plugin that wrote the message.
    """

    def __init__(self, config: str, weights: dict[str, np.ndarray] | None):
        self.config = config
        self.weights = None if weights is None else {k: np.asarray(v) for k, v in weights.items()}
        self.key = content_key(config, self.weights)
        self.format = MESSAGE_FORMAT

    @classmethod
    def from_model(cls, model: ChempropModel, with_weights: bool = True) -> 'ChempropMessage':
        """Pack a model (its arrays are shared, not copied: the scorer never modifies them in place)."""
        return cls(model.config.to_json(), model.weights if with_weights else None)

    def __repr__(self) -> str:
        state = 'untrained' if self.weights is None else f'{sum(int(w.size) for w in self.weights.values())} parameters'
        return f'ChempropMessage({self.config}, {state})'

    def get_config(self) -> MPNNConfig:
        """The architecture, after checking that this plugin version can read the message."""
        if getattr(self, 'format', None) != MESSAGE_FORMAT:
            raise IncompatibleVersionError(f'This ChempropMessage has format {getattr(self, "format", None)!r}; this '
                                           f'examol-chemprop reads format {MESSAGE_FORMAT}. Re-create it with '
                                           'ChempropScorer.prepare_message using the same examol-chemprop version')
        return MPNNConfig.from_json(self.config)

    def build_network(self) -> 'MPNN':
        """A new chemprop module with the message's weights (random ones if none), for the caller alone."""
        return build_network(self.get_config(), self.weights)

    def get_network(self) -> 'MPNN':
        """The trained network, rebuilt on first use and cached in this process; treat it as read-only.

        Raises:
            UntrainedModelError: the message carries no weights.
        """
        config = self.get_config()
        if self.weights is None:
            raise UntrainedModelError('This model has not been trained: train it (ChempropScorer.retrain, then update) '
                                      'before scoring')
        with _cache_lock:
            if self.key in _cache:
                _cache.move_to_end(self.key)
                return _cache[self.key]
        network = build_network(config, check_weights(config, self.weights))
        with _cache_lock:
            _cache[self.key] = network
            while len(_cache) > MODEL_CACHE_SIZE:
                _cache.popitem(last=False)
        return network
