"""The Colmena bridge: run a scorer's training and inference on Colmena task servers.

* :mod:`~examol_core.colmena.methods` (runs on workers): :func:`make_methods` turns a scorer and
  its options into named, picklable functions for any Colmena task server.
* :mod:`~examol_core.colmena.thinker` (steering side): :class:`ScorerClient` submits training
  (single model or bootstrap ensemble) and chunked inference, and its jobs fold results back
  in order, reporting failed tasks so they can be resubmitted.
* :mod:`~examol_core.colmena.config` (steering side): queues (pipes or Redis), ProxyStore, Parsl
  configurations (local workers by default, or a user's file) and :func:`start_task_server`.

See ``docs/colmena.md`` for a complete thinker.
"""
from examol_core.colmena.config import (
    DEFAULT_PROXY_THRESHOLD,
    DEFAULT_TOPICS,
    TaskServerDied,
    TaskServerHandle,
    default_parsl_config,
    load_parsl_config,
    make_queues,
    make_store,
    prepare_environment,
    start_task_server,
)
from examol_core.colmena.methods import (
    ChunkScores,
    EnsembleMessage,
    ScorerMethods,
    make_methods,
    retrain_task,
    score_smiles_task,
    score_task,
)
from examol_core.colmena.thinker import (
    ChunkOutcome,
    IncompleteJobError,
    Job,
    RetrainJob,
    ScoreJob,
    ScorerClient,
    Scores,
    TaskFailure,
    chunk_bounds,
    wait_all,
)

__all__ = [
    'make_methods', 'ScorerMethods', 'EnsembleMessage', 'ChunkScores', 'retrain_task', 'score_task', 'score_smiles_task',
    'ScorerClient', 'Job', 'RetrainJob', 'ScoreJob', 'Scores', 'ChunkOutcome', 'TaskFailure', 'IncompleteJobError',
    'chunk_bounds', 'wait_all',
    'start_task_server', 'TaskServerHandle', 'TaskServerDied', 'default_parsl_config', 'load_parsl_config',
    'make_queues', 'make_store', 'prepare_environment', 'DEFAULT_TOPICS', 'DEFAULT_PROXY_THRESHOLD',
]
