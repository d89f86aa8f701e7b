"""The network's description and the local model: plain configuration plus NumPy weights.

:class:`ChempropModel` is what ``make_model('chemprop', 'mpnn', ...)`` returns and what lives on the
steering side. It holds an :class:`MPNNConfig` (JSON) and, once trained, the network's
``state_dict`` as NumPy arrays. The steering process therefore never imports or runs PyTorch:
messages are built, updated and saved from plain data, and only workers rebuild the chemprop
module (:func:`build_network`). Keeping PyTorch out of the steering process also keeps it safe to
fork: a child forked after its parent ran PyTorch with several threads can hang.

Importing this module does not import PyTorch.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from examol_core.errors import IncompatibleVersionError

if TYPE_CHECKING:
    from chemprop.models import MPNN

__all__ = ['MPNNConfig', 'ChempropModel', 'make_mpnn', 'build_network', 'expected_shapes', 'check_weights',
           'ATOM_FEATURES', 'BOND_FEATURES']

ATOM_FEATURES = 72
"""Length of an atom's feature vector from chemprop's default ``SimpleMoleculeMolGraphFeaturizer``."""
BOND_FEATURES = 14
"""Length of a bond's feature vector from the same featuriser."""


class MPNNConfig(BaseModel):
    """Architecture of a D-MPNN: chemprop's bond message passing, an aggregation and a regression head.

    The bounds keep a configuration read from a file from asking for absurd amounts of memory.
    Defaults are chemprop's own (hidden size 300, depth 3, one hidden layer of 300 in the head).

    Attributes:
        hidden_size: Width of the bond messages (chemprop's ``d_h``).
        depth: Message-passing steps.
        dropout: Dropout in message passing and in the head, during training.
        aggregation: How atom states become a molecule vector: ``mean``, ``sum`` or ``norm``
            (a sum divided by 100, chemprop's command-line default).
        batch_norm: Batch normalisation of the molecule vectors.
        ffn_hidden_size: Width of the hidden layers of the regression head.
        ffn_layers: Hidden layers of the regression head.
        outputs: Outputs of the head: 1, or ``k + 1`` to learn from ``k`` lower levels of fidelity
            (the lowest level, then the deltas).
    """

    model_config = ConfigDict(extra='forbid', frozen=True)

    hidden_size: int = Field(300, ge=1, le=4096)
    depth: int = Field(3, ge=1, le=20)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    aggregation: Literal['mean', 'sum', 'norm'] = 'mean'
    batch_norm: bool = False
    ffn_hidden_size: int = Field(300, ge=1, le=4096)
    ffn_layers: int = Field(1, ge=0, le=8)
    outputs: int = Field(1, ge=1, le=16)

    @classmethod
    def from_json(cls, text: str) -> 'MPNNConfig':
        """Parse a configuration written by :meth:`to_json` (steering side or worker).

        Raises:
            IncompatibleVersionError: not a configuration this plugin can build.
        """
        try:
            return cls.model_validate_json(text)
        except ValidationError as exc:
            raise IncompatibleVersionError(f'Not an examol-chemprop network configuration: {exc}') from None

    def to_json(self) -> str:
        return json.dumps(self.model_dump(), sort_keys=True)


def expected_shapes(config: MPNNConfig) -> dict[str, tuple[int, ...]]:
    """The ``state_dict`` of the chemprop module :func:`build_network` makes, as names → shapes.

    Computed without PyTorch, so the steering side can check weights (from a worker or a file)
    before accepting them; the tests compare it with the real module.
    """
    h, f, n = config.hidden_size, config.ffn_hidden_size, config.outputs
    shapes: dict[str, tuple[int, ...]] = {
        'message_passing.W_i.weight': (h, ATOM_FEATURES + BOND_FEATURES),
        'message_passing.W_h.weight': (h, h),
        'message_passing.W_o.weight': (h, ATOM_FEATURES + h),
        'message_passing.W_o.bias': (h,),
    }
    if config.batch_norm:
        shapes.update({'bn.weight': (h,), 'bn.bias': (h,), 'bn.running_mean': (h,), 'bn.running_var': (h,),
                       'bn.num_batches_tracked': ()})
    widths = [h] + [f] * config.ffn_layers + [n]
    for i, (width_in, width_out) in enumerate(zip(widths[:-1], widths[1:])):
        layer = f'predictor.ffn.{i}.{0 if i == 0 else 2}'
        shapes[f'{layer}.weight'] = (width_out, width_in)
        shapes[f'{layer}.bias'] = (width_out,)
    shapes.update({'predictor.criterion.task_weights': (1, n), 'predictor.output_transform.mean': (1, n),
                   'predictor.output_transform.scale': (1, n),
                   'metrics.0.task_weights': (1, 1),
                   'metrics.1.task_weights': (1, n)})
    return shapes


def check_weights(config: MPNNConfig, weights: Any) -> dict[str, np.ndarray]:
    """Check weights against a configuration before using them; returns them as NumPy arrays.

    Raises:
        IncompatibleVersionError: names missing or extra, a shape that differs, or non-finite values.
    """
    if not isinstance(weights, dict) or not all(isinstance(k, str) for k in weights):
        raise IncompatibleVersionError(f'Expected the weights as a dict of name -> array; got {type(weights).__name__}')
    expected = expected_shapes(config)
    missing, extra = sorted(set(expected) - set(weights)), sorted(set(weights) - set(expected))
    if missing or extra:
        raise IncompatibleVersionError(f'The weights do not fit the architecture {config.to_json()}: missing {missing}, '
                                       f'unexpected {extra}; were they written by another version of examol-chemprop '
                                       'or chemprop?')
    arrays = {}
    for name, shape in expected.items():
        array = np.asarray(weights[name])
        if array.shape != shape or array.dtype.kind not in 'fi':
            raise IncompatibleVersionError(f'Weight {name} has shape {array.shape} ({array.dtype}) but the architecture '
                                           f'needs {shape}: the weights come from a different architecture')
        if not np.isfinite(array).all():
            raise IncompatibleVersionError(f'Weight {name} holds NaN or infinite values')
        arrays[name] = array
    return arrays


class ChempropModel:
    """A chemprop network on the steering side: its configuration and, once trained, its weights.

    Attributes:
        config: The architecture.
        weights: ``state_dict`` arrays by name (checked by :func:`check_weights`), or ``None``
            until the model is trained.
    """

    def __init__(self, config: MPNNConfig, weights: dict[str, np.ndarray] | None = None):
        self.config = config
        self.weights = None if weights is None else check_weights(config, weights)

    def __repr__(self) -> str:
        state = 'untrained' if self.weights is None else f'{sum(w.size for w in self.weights.values())} parameters'
        return f'ChempropModel({self.config!r}, {state})'

    @property
    def trained(self) -> bool:
        return self.weights is not None

    def to_module(self) -> 'MPNN':
        """The chemprop ``MPNN`` module with these weights (imports PyTorch; random weights if untrained)."""
        return build_network(self.config, self.weights)


def make_mpnn(hidden_size: int = 300, depth: int = 3, dropout: float = 0.0,
              aggregation: Literal['mean', 'sum', 'norm'] = 'mean', batch_norm: bool = False,
              ffn_hidden_size: int = 300, ffn_layers: int = 1, outputs: int = 1) -> ChempropModel:
    """A new, untrained D-MPNN (the ``mpnn`` model of the ``chemprop`` scorer); see :class:`MPNNConfig`.

    Raises:
        ValueError: an option out of range (``pydantic.ValidationError`` names it).
    """
    return ChempropModel(MPNNConfig(hidden_size=hidden_size, depth=depth, dropout=dropout, aggregation=aggregation,
                                    batch_norm=batch_norm, ffn_hidden_size=ffn_hidden_size, ffn_layers=ffn_layers,
                                    outputs=outputs))


def build_network(config: MPNNConfig, weights: dict[str, np.ndarray] | None = None) -> 'MPNN':
    """The chemprop module for a configuration, with ``weights`` loaded strictly (runs on a worker).

    The module is returned in evaluation mode, where its output transform un-scales predictions.
    """
    import torch
    from chemprop import nn
    from chemprop.models import MPNN

    aggregation = {'mean': nn.MeanAggregation, 'sum': nn.SumAggregation, 'norm': nn.NormAggregation}[config.aggregation]
    n = config.outputs
    head = nn.RegressionFFN(n_tasks=n, input_dim=config.hidden_size, hidden_dim=config.ffn_hidden_size,
                            n_layers=config.ffn_layers, dropout=config.dropout,
                            output_transform=nn.UnscaleTransform(np.zeros(n), np.ones(n)))
    network = MPNN(nn.BondMessagePassing(d_h=config.hidden_size, depth=config.depth, dropout=config.dropout),
                   aggregation(), head, batch_norm=config.batch_norm)
    if weights is not None:
        weights = check_weights(config, weights)
        network.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in weights.items()}, strict=True)
    return network.eval()


def network_weights(network: 'MPNN') -> dict[str, np.ndarray]:
    """A module's ``state_dict`` as NumPy arrays (copies)."""
    return {name: value.detach().cpu().numpy().copy() for name, value in network.state_dict().items()}
