"""The network description: bounds, the shapes computed without PyTorch, and weight checks."""
from __future__ import annotations

import numpy as np
import pytest
from examol_chemprop.model import (
    ChempropModel,
    MPNNConfig,
    build_network,
    check_weights,
    expected_shapes,
    make_mpnn,
    network_weights,
)
from pydantic import ValidationError

from examol_core.errors import IncompatibleVersionError

CONFIGS = [
    {},
    {'hidden_size': 16, 'depth': 2, 'ffn_layers': 0, 'outputs': 2},
    {'hidden_size': 24, 'ffn_hidden_size': 8, 'ffn_layers': 3, 'batch_norm': True, 'aggregation': 'sum', 'outputs': 3},
    {'hidden_size': 8, 'aggregation': 'norm', 'dropout': 0.2},
]


@pytest.mark.parametrize('options', CONFIGS, ids=lambda o: ','.join(f'{k}={v}' for k, v in o.items()) or 'default')
def test_expected_shapes_match_chemprop(options):
    config = MPNNConfig(**options)
    network = build_network(config)
    actual = {name: tuple(value.shape) for name, value in network.state_dict().items()}
    assert actual == expected_shapes(config)


def test_weights_round_trip_through_arrays():
    import torch
    from chemprop.data import BatchMolGraph
    from chemprop.featurizers import SimpleMoleculeMolGraphFeaturizer
    from rdkit import Chem

    config = MPNNConfig(hidden_size=16, ffn_hidden_size=8, outputs=2, batch_norm=True)
    first = build_network(config)
    with torch.no_grad():
        first.predictor.output_transform.mean.fill_(3.)
    weights = network_weights(first)
    second = build_network(config, weights)
    batch = BatchMolGraph([SimpleMoleculeMolGraphFeaturizer()(Chem.MolFromSmiles(s)) for s in ('CCO', 'c1ccccc1')])
    with torch.inference_mode():
        np.testing.assert_array_equal(first(batch).numpy(), second(batch).numpy())
    assert not second.training, 'built in evaluation mode, where outputs are un-scaled'


def test_config_bounds_and_json():
    config = MPNNConfig(hidden_size=32, outputs=3)
    assert MPNNConfig.from_json(config.to_json()) == config
    for bad in ({'hidden_size': 0}, {'hidden_size': 10 ** 6}, {'depth': 50}, {'aggregation': 'max'},
                {'outputs': 0}, {'unknown': 1}):
        with pytest.raises(ValidationError):
            MPNNConfig(**bad)
    with pytest.raises(IncompatibleVersionError, match='network configuration'):
        MPNNConfig.from_json('{"hidden_size": 100000000}')
    with pytest.raises(ValueError):
        make_mpnn(depth=-1)


def test_check_weights_names_the_problem():
    config = MPNNConfig(hidden_size=8, ffn_hidden_size=8)
    weights = network_weights(build_network(config))
    assert set(check_weights(config, weights)) == set(weights)
    with pytest.raises(IncompatibleVersionError, match='missing'):
        check_weights(config, {k: v for k, v in weights.items() if k != 'message_passing.W_h.weight'})
    with pytest.raises(IncompatibleVersionError, match='W_o.bias'):
        check_weights(config, {**weights, 'message_passing.W_o.bias': np.zeros(9, np.float32)})
    with pytest.raises(IncompatibleVersionError, match='NaN'):
        check_weights(config, {**weights, 'message_passing.W_o.bias': np.full(8, np.nan, np.float32)})
    with pytest.raises(IncompatibleVersionError, match='dict'):
        check_weights(config, list(weights.values()))


def test_model_holds_no_torch_objects():
    model = make_mpnn(hidden_size=8)
    assert not model.trained and 'untrained' in repr(model)
    module = model.to_module()
    trained = ChempropModel(model.config, network_weights(module))
    assert trained.trained
    assert all(isinstance(w, np.ndarray) for w in trained.weights.values())
