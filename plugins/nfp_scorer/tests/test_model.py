"""The network: architecture, serialisation, and predictions that do not depend on the batch."""
from __future__ import annotations

import numpy as np
import pytest
from examol_nfp.data import PackedGraphs
from examol_nfp.message import NFPMessage, model_from_arrays, model_to_arrays
from examol_nfp.model import make_simple_network, output_count, scale_layers
from examol_nfp.training import initialise_scales, make_predict_function, predict

from examol_core.errors import IncompatibleVersionError


def _predict(model, packed: PackedGraphs, indices) -> np.ndarray:
    return np.asarray(model(packed.batch(np.asarray(indices)), training=False))


def test_tf_keras_is_keras_2():
    import tensorflow as tf

    assert tf.keras.layers.Layer.__module__.startswith('tf_keras.')


@pytest.mark.parametrize('outputs', [1, 3])
def test_architecture(outputs, graphs, tiny):
    model = tiny(outputs)
    assert output_count(model) == outputs
    assert [layer.name for layer in scale_layers(model)] == [f'scale_{i}' for i in range(outputs)]
    packed = PackedGraphs.from_graphs(graphs)
    assert _predict(model, packed, range(5)).shape == (5, outputs)
    names = {layer.name for layer in model.layers}
    assert {'edge_update_0', 'node_update_1', 'global_update_0', 'atom_embedding', 'bond_embedding'} <= names


def test_bad_options():
    with pytest.raises(ValueError, match='reduce_op'):
        make_simple_network(reduce_op='median')
    with pytest.raises(ValueError, match='outputs'):
        make_simple_network(outputs=0)


def test_initialise_scales(tiny):
    model = tiny(2)
    labels = np.array([[1., np.nan], [3., 10.], [5., 10.]])
    initialise_scales(model, labels)
    (k0, b0), (k1, b1) = (layer.get_weights() for layer in scale_layers(model))
    assert np.isclose(k0[0, 0], np.std([1, 3, 5])) and np.isclose(b0[0], 3.)
    assert np.isclose(k1[0, 0], 1.) and np.isclose(b1[0], 10.), 'no spread: weight 1; NaN ignored'


def test_json_round_trip_reproduces_predictions(graphs, tiny):
    model = tiny(2, reduce_op='sum', atomwise=False)
    packed = PackedGraphs.from_graphs(graphs)
    config, weights = model_to_arrays(model)
    rebuilt = model_from_arrays(config, weights)
    assert np.array_equal(_predict(model, packed, range(len(graphs))), _predict(rebuilt, packed, range(len(graphs))))
    with pytest.raises(IncompatibleVersionError, match='weight arrays'):
        model_from_arrays(config, weights[:-1])
    with pytest.raises(IncompatibleVersionError, match='has shape'):
        model_from_arrays(tiny(2, reduce_op='sum', atomwise=False, atom_features=16).to_json(), weights)


@pytest.mark.parametrize('options', [{}, {'reduce_op': 'max'}, {'reduce_op': 'sum', 'atomwise': False},
                                     {'reduce_op': 'min', 'outputs': 2}])
def test_prediction_does_not_depend_on_batch(options, graphs, tiny):
    """Alone, in a batch, reversed, or next to a large molecule (more padding): the same value."""
    model = tiny(**options)
    # Scale outputs up so that any leak of padding or batch mates would show above the tolerance
    initialise_scales(model, np.tile([[0.], [200.]], (1, output_count(model))))
    packed = PackedGraphs.from_graphs(graphs)
    everything = np.arange(len(graphs))
    together = _predict(model, packed, everything)
    reverse = _predict(model, packed, everything[::-1])[::-1]
    largest = int(np.argmax(packed.n_atoms))
    for i in everything:
        alone = _predict(model, packed, [i])
        with_large = _predict(model, packed, [i, largest])[:1]
        np.testing.assert_allclose(alone, together[i:i + 1], atol=1e-4)
        np.testing.assert_allclose(with_large, together[i:i + 1], atol=1e-4)
    np.testing.assert_allclose(reverse, together, atol=1e-4)
    assert np.ptp(together) > 1e-2, 'predictions differ between molecules, so the test can detect a leak'


def test_batch_independence_test_detects_leaks(graphs, tiny):
    """Control: letting padding bonds point at atom 0 (a naive layout) does change predictions."""
    model = tiny()
    initialise_scales(model, np.array([[0.], [200.]]))
    packed = PackedGraphs.from_graphs(graphs)
    small, large = int(np.argmin(packed.n_atoms)), int(np.argmax(packed.n_atoms))
    batch = packed.batch(np.array([small, large]))
    alone = np.asarray(model(packed.batch(np.array([small])), training=False))[0]
    batch['connectivity'][0, packed.n_bonds[small]:] = 0
    leaked = np.asarray(model(batch, training=False))[0]
    assert np.abs(leaked - alone).max() > 1e-3


def test_predict_keeps_input_order(graphs, tiny):
    model = tiny()
    initialise_scales(model, np.array([[0.], [200.]]))
    packed = PackedGraphs.from_graphs(graphs)
    fn = make_predict_function(model)
    expected = _predict(model, packed, range(len(graphs)))
    for batch_size, concurrency in [(1, 1), (3, 2), (100, 2)]:
        np.testing.assert_allclose(predict(fn, packed, batch_size, concurrency), expected, atol=1e-4)


def test_message_rebuilds_lazily_and_pickles_without_the_model(graphs, tiny):
    import pickle

    model = tiny()
    message = NFPMessage.from_model(model)
    assert message._loaded is None, 'nothing is built until a worker needs it'
    copy = pickle.loads(pickle.dumps(message))
    assert copy._loaded is None
    packed = PackedGraphs.from_graphs(graphs)
    np.testing.assert_array_equal(_predict(copy.get_model(), packed, range(4)), _predict(model, packed, range(4)))
    assert copy.get_model() is copy.get_model(), 'cached for later calls on the worker'
    assert pickle.loads(pickle.dumps(copy))._loaded is None, 'a used message still pickles without its model'
    # Another task receiving the same message reuses the network built for the first
    assert pickle.loads(pickle.dumps(message)).get_model() is copy.get_model()
    assert copy.get_predict_function() is pickle.loads(pickle.dumps(message)).get_predict_function()
    # Changing the local model later does not change the message
    model.set_weights([w + 1 for w in model.get_weights()])
    np.testing.assert_array_equal(message.weights[0], copy.weights[0])
    changed = NFPMessage.from_model(model)
    assert changed.key != message.key and changed.get_model() is not copy.get_model()


def test_message_format_is_checked(tiny):
    message = NFPMessage.from_model(tiny())
    message.format = 99
    with pytest.raises(IncompatibleVersionError, match='format 99'):
        message.get_model()
