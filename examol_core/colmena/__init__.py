"""The Colmena bridge: run a scorer's training and inference on Colmena task servers.

* :mod:`~examol_core.colmena.methods` (runs on workers): :func:`make_methods` turns a scorer and
  its options into named, picklable functions for any Colmena task server.
* :mod:`~examol_core.colmena.thinker` and :mod:`~examol_core.colmena.jobs` (steering side):
  :class:`ScorerClient` submits training (single model or bootstrap ensemble) and chunked
  inference as jobs that can be waited on, give results in input order, report failed tasks
  and resubmit them. :mod:`~examol_core.colmena.proxies` shares large objects through ProxyStore.
* :mod:`~examol_core.colmena.training` and :mod:`~examol_core.colmena.scoring` (steering side):
  the engines of ``examol train`` and ``examol score`` (:func:`train_model_file`,
  :func:`score_smiles_file`), for scripts and notebooks too.
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
    server_capacity,
    start_task_server,
)
from examol_core.colmena.methods import (
    ChunkScores,
    EnsembleMessage,
    MethodNames,
    ScorerMethods,
    make_methods,
    retrain_task,
    score_smiles_task,
    score_task,
)
from examol_core.colmena.scorefiles import ScoreWriter, SmilesFile, default_rejects_path, read_smiles
from examol_core.colmena.scoring import ChunkFailure, ScoreProgress, ScoreSummary, score_smiles_file, write_scores
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
from examol_core.colmena.training import (
    TrainingFailed,
    TrainingSet,
    TrainSummary,
    load_training_set,
    train_model_file,
    train_models,
)

__all__ = [
    'make_methods', 'ScorerMethods', 'MethodNames', 'EnsembleMessage', 'ChunkScores', 'retrain_task', 'score_task', 'score_smiles_task',
    'ScorerClient', 'Job', 'RetrainJob', 'ScoreJob', 'Scores', 'ChunkOutcome', 'TaskFailure', 'IncompleteJobError',
    'chunk_bounds', 'wait_all',
    'start_task_server', 'TaskServerHandle', 'TaskServerDied', 'default_parsl_config', 'load_parsl_config',
    'make_queues', 'make_store', 'prepare_environment', 'server_capacity', 'DEFAULT_TOPICS', 'DEFAULT_PROXY_THRESHOLD',
    'train_model_file', 'load_training_set', 'train_models', 'TrainingSet', 'TrainSummary', 'TrainingFailed',
    'score_smiles_file', 'write_scores', 'ScoreProgress', 'ScoreSummary', 'ChunkFailure',
    'SmilesFile', 'read_smiles', 'ScoreWriter', 'default_rejects_path',
]
