"""Compiled training steps: Grappler switched off per thread."""
from __future__ import annotations

import threading


def _meta_optimizer_disabled() -> bool:
    import tensorflow as tf
    from tensorflow.python.eager import context

    config = tf.compat.v1.ConfigProto.FromString(context.context().function_call_options.config_proto_serialized)
    return config.graph_options.rewrite_options.disable_meta_optimizer


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
