"""Compiled training steps: evaluation eager then traced, and Grappler switched off per thread."""
from __future__ import annotations

import threading

import numpy as np
from examol_nfp.data import PackedGraphs


def _meta_optimizer_disabled() -> bool:
    import tensorflow as tf
    from tensorflow.python.eager import context

    config = tf.compat.v1.ConfigProto.FromString(context.context().function_call_options.config_proto_serialized)
    return config.graph_options.rewrite_options.disable_meta_optimizer


def test_evaluation_is_the_same_eager_and_traced(graphs, labels, tiny):
    from examol_nfp.steps import EAGER_EVALUATIONS, TrainingSteps

    model = tiny()
    steps = TrainingSteps(model, 1, False)
    assert steps.plain is not None  # a network of make_simple_network trains in plain TensorFlow
    packed = PackedGraphs.from_graphs(graphs)
    y = labels[:, None].astype(np.float32)
    y[1] = np.nan  # an unknown label counts for nothing
    predicted = np.asarray(model(packed.batch(np.arange(len(packed))), training=False))
    known = np.isfinite(y)
    expected = [np.sum((predicted - y)[known] ** 2), known.sum()]
    totals = [steps.evaluate(packed, y, batch_size=3) for _ in range(EAGER_EVALUATIONS + 2)]
    assert steps.eval_step.experimental_get_tracing_count() == 1  # traced once the eager passes are spent
    for total in totals:
        np.testing.assert_allclose(total, expected, rtol=1e-5)


def test_unoptimised_graphs_is_for_this_thread_and_restored():
    import tensorflow as tf
    from examol_nfp.steps import unoptimised_graphs
    from tensorflow.python.eager import context

    before = context.context().function_call_options.config_proto_serialized
    double = tf.function(lambda x: 2 * x + 1)
    other = {}
    with unoptimised_graphs():
        assert _meta_optimizer_disabled()
        thread = threading.Thread(target=lambda: other.update(disabled=_meta_optimizer_disabled()))
        thread.start()
        thread.join()
        inside = double(tf.constant(3.)).numpy()
    assert other == {'disabled': False}
    assert context.context().function_call_options.config_proto_serialized == before
    assert not _meta_optimizer_disabled()
    assert inside == double(tf.constant(3.)).numpy() == 7.
