"""An NFP network scored on Colmena's local task server from a process where TensorFlow already ran."""
from __future__ import annotations

import numpy as np

from examol_core.colmena import ScorerClient, make_methods, start_task_server


def test_local_task_server_scores_after_tensorflow_ran_here(tiny, graphs):
    """A forked task server inherited TensorFlow's locks without its threads and hung on its first call."""
    from examol_nfp import NFPScorer

    scorer = NFPScorer()
    model = tiny()
    expected = scorer.score(scorer.prepare_message(model), graphs)  # TensorFlow's thread pools now exist here
    methods = make_methods(scorer)
    with start_task_server(methods, local=True, shutdown_timeout=10) as server:
        job = ScorerClient(server.queues, scorer, methods).submit_score(model, graphs, chunk_size=len(graphs))
        assert job.wait(timeout=400, check_alive=server.check_alive), job.failures
        scores = job.collect()
    np.testing.assert_allclose(scores.mean, expected, rtol=1e-5)
