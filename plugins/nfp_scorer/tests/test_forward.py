"""The plain-TensorFlow forward pass computes what the Keras network computes, or declines."""
from __future__ import annotations

import numpy as np
import pytest
from examol_nfp.data import PackedGraphs


@pytest.mark.parametrize('options', [{}, {'atomwise': False, 'reduce_op': 'max', 'outputs': 3, 'atom_features': 6},
                                     {'message_steps': 0, 'reduce_op': 'sum', 'outputs': 2},
                                     {'reduce_op': 'max'}, {'reduce_op': 'min', 'output_layers': (8, 4)}])
def test_plain_forward_matches_the_network(graphs, tiny, options):
    import tensorflow as tf
    from examol_nfp.forward import plain_forward

    model = tiny(**options)
    forward = plain_forward(model)
    assert forward is not None
    packed = PackedGraphs.from_graphs(graphs)
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(size=w.shape).astype(np.float32) * 0.5 for w in model.get_weights()])
    batch = packed.batch(np.arange(len(packed)))  # molecules of 1 to 24 atoms: padding in most rows
    y = tf.constant(rng.normal(size=(len(packed), 1)), tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        expected, got = model(batch, training=True), forward(batch)
        losses = [tf.reduce_sum((tf.reduce_sum(out, axis=1, keepdims=True) - y) ** 2) for out in (expected, got)]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    for variable in model.trainable_variables:
        if 'query/bias' in variable.name:  # softmax ignores a shift: its gradient is rounding noise
            continue
        want, have = (tf.convert_to_tensor(tape.gradient(loss, variable)) for loss in losses)
        scale = float(tf.reduce_max(tf.abs(want)))
        np.testing.assert_allclose(have, want, atol=1e-4 * scale + 1e-7, err_msg=variable.name)


def test_plain_forward_declines_what_it_does_not_cover(tiny):
    import nfp
    import tensorflow as tf
    from examol_nfp.forward import plain_forward
    from examol_nfp.model import PaddingMask

    layers = tf.keras.layers
    atom = layers.Input(shape=[None], dtype=tf.int32, name='atom')
    bond = layers.Input(shape=[None], dtype=tf.int32, name='bond')
    connectivity = layers.Input(shape=[None, 2], dtype=tf.int32, name='connectivity')
    masks = [PaddingMask()(atom), PaddingMask()(bond), None]
    inputs = [atom, bond, connectivity]

    def network(dropout: float = 0., mask_zero: bool = False, extra=None):
        atom_state = layers.Embedding(10, 4, mask_zero=mask_zero)(atom)
        bond_state = layers.Embedding(10, 4)(bond)
        state = nfp.GlobalUpdate(units=4, num_heads=1, dropout=dropout)([atom_state, bond_state, connectivity],
                                                                         mask=masks)
        return tf.keras.Model(inputs, layers.Dense(1)(extra(state) if extra else state))

    assert plain_forward(network()) is not None
    assert plain_forward(network(dropout=0.1)) is None
    assert plain_forward(network(mask_zero=True)) is None
    assert plain_forward(network(extra=layers.BatchNormalization())) is None
    assert plain_forward(tiny(outputs=1)) is not None
    tf.keras.mixed_precision.set_global_policy('mixed_float16')
    try:
        assert plain_forward(tiny(outputs=1)) is None
    finally:
        tf.keras.mixed_precision.set_global_policy('float32')


def test_scoring_runs_the_plain_forward(graphs, tiny):
    from examol_nfp.training import make_predict_function

    model = tiny(outputs=2)
    predict = make_predict_function(model)
    batch = PackedGraphs.from_graphs(graphs).batch(np.arange(len(graphs)))
    np.testing.assert_allclose(predict(batch), model(batch, training=False), rtol=1e-4, atol=1e-5)
    names = [op.name for op in predict.get_concrete_function().graph.get_operations()]
    assert not any('Tensordot' in name for name in names)  # how Keras's Dense runs on atoms
