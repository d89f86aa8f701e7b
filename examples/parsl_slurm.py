"""Parsl configuration for a Slurm cluster: `examol score --parsl-config examples/parsl_slurm.py ...`.

examol loads this file and uses the variable ``config`` (a ``parsl.config.Config``). Edit the
marked values for your site, or set the ``EXAMOL_SLURM_*`` environment variables named beside
them (the project's tests run this very file against a one-node Slurm cluster that way, see
``.ci/slurm-up``). The steering process (where you run ``examol``) must be reachable from the
compute nodes: run it on a login node or in the batch job, and give
``--redis-url redis://<login-node>:6379`` so that queues and large objects (ProxyStore) go
through a Redis server the workers can reach (or keep the default file-system ProxyStore if
``$TMPDIR`` is on a shared file system).

Each block is one Slurm job of ``NODES`` nodes; each node runs ``WORKERS_PER_NODE`` workers,
each with ``CORES_PER_WORKER`` cores (set OMP/TensorFlow threads to match in ``worker_init``).
Each task records its Slurm job id in its result's ``worker_info`` (``batch_job_id``).
"""
import os

from parsl.addresses import address_by_hostname
from parsl.config import Config
from parsl.executors import HighThroughputExecutor
from parsl.launchers import SingleNodeLauncher, SrunLauncher
from parsl.providers import SlurmProvider


def _site(name: str, default: str) -> str:
    return os.environ.get(f'EXAMOL_SLURM_{name}', default)


# --- Edit for your site (or set the environment variable) --------------------------------
PARTITION = _site('PARTITION', 'compute')             # sbatch --partition
ACCOUNT = _site('ACCOUNT', 'my-allocation') or None   # sbatch --account (empty: none)
WALLTIME = _site('WALLTIME', '01:00:00')              # per block (Slurm job)
NODES = int(_site('NODES', '2'))                      # nodes per block
MAX_BLOCKS = int(_site('MAX_BLOCKS', '1'))            # Slurm jobs running at once
WORKERS_PER_NODE = int(_site('WORKERS_PER_NODE', '8'))
CORES_PER_WORKER = float(_site('CORES_PER_WORKER', '4'))
ADDRESS = _site('ADDRESS', '') or address_by_hostname()  # how nodes reach the steering process
ENVIRONMENT = _site('ENVIRONMENT', 'source /path/to/venv/bin/activate')  # makes examol, its plugins and Parsl available
LAUNCHER = _site('LAUNCHER', 'srun')                  # srun: one worker pool per node; single: one pool (one node)
STRATEGY_PERIOD = float(_site('STRATEGY_PERIOD', '5'))  # seconds between Parsl's looks at the queue of blocks
RUN_DIR = _site('RUN_DIR', 'runinfo')                 # Parsl's logs
HEARTBEAT_PERIOD = int(_site('HEARTBEAT_PERIOD', '30'))  # seconds between worker pool <-> interchange heartbeats
HEARTBEAT_THRESHOLD = int(_site('HEARTBEAT_THRESHOLD', '120'))  # a silent pool (cancelled job) is lost after this
# ------------------------------------------------------------------------------------------

_threads = max(1, int(CORES_PER_WORKER))
config = Config(
    executors=[
        HighThroughputExecutor(
            label='examol_slurm',
            address=ADDRESS,
            max_workers_per_node=WORKERS_PER_NODE,
            cores_per_worker=CORES_PER_WORKER,
            heartbeat_period=HEARTBEAT_PERIOD,
            heartbeat_threshold=HEARTBEAT_THRESHOLD,
            provider=SlurmProvider(
                partition=PARTITION,
                account=ACCOUNT,
                nodes_per_block=NODES,
                init_blocks=1,
                min_blocks=0,
                max_blocks=MAX_BLOCKS,
                walltime=WALLTIME,
                launcher=SingleNodeLauncher() if LAUNCHER == 'single' else SrunLauncher(),
                worker_init=f'{ENVIRONMENT}; export OMP_NUM_THREADS={_threads} TF_NUM_INTRAOP_THREADS='
                            f'{_threads} TF_CPP_MIN_LOG_LEVEL=2',
            ),
        )
    ],
    run_dir=RUN_DIR,
    strategy_period=STRATEGY_PERIOD,  # a lost block is replaced after at most this long
    retries=1,  # a task lost with its node (or its cancelled job) is run once more before it is reported failed
)
