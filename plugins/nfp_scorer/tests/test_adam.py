"""The fused Adam of the training steps makes the same updates as Keras's Adam."""
from __future__ import annotations

import numpy as np
from examol_nfp.data import PackedGraphs


def _three_steps(model, optimizer, batch, y, start):
    import tensorflow as tf
    from examol_nfp.steps import squared_errors

    model.set_weights(start)
    for learning_rate in (1e-2, 1e-2, 3e-3):  # the rate changes between steps, as the cosine schedule does
        optimizer.learning_rate.assign(learning_rate)
        with tf.GradientTape() as tape:
            sse, count = squared_errors(y, model(batch, training=True), False)
            loss = sse / count
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
    return model.get_weights()


def test_fused_adam_matches_keras_adam(graphs, labels, tiny):
    import tensorflow as tf
    from examol_nfp.adam import FusedAdam

    model = tiny()
    packed = PackedGraphs.from_graphs(graphs)
    batch = packed.batch(np.arange(len(packed)))
    y = tf.constant(labels[:, None], tf.float32)
    start = model.get_weights()
    keras = tf.keras.optimizers.Adam(1e-2)
    keras.build(model.trainable_variables)
    expected = _three_steps(model, keras, batch, y, start)
    fused = FusedAdam(model.trainable_variables, 1e-2)
    got = _three_steps(model, fused, batch, y, start)
    assert int(fused.iterations.numpy()) == 3
    for before, want, have in zip(start, expected, got, strict=True):
        assert not np.array_equal(want, before)  # every weight moved, embeddings (sparse gradients) included
        # Up to 1% of one step: the attention's query biases get gradients of rounding noise only
        # (softmax ignores a shift), which both optimisers scale up to about a thousandth of a step
        np.testing.assert_allclose(have, want, rtol=1e-4, atol=1e-4)
