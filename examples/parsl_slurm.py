"""Parsl configuration for a Slurm cluster: `examol score --parsl-config examples/parsl_slurm.py ...`.

examol loads this file and uses the variable ``config`` (a ``parsl.config.Config``). Edit the
marked values for your site. The steering process (where you run ``examol``) must be reachable
from the compute nodes: run it on a login node or in the batch job, and give
``--redis-url redis://<login-node>:6379`` so that queues and large objects (ProxyStore) go
through a Redis server the workers can reach (or keep the default file-system ProxyStore if
``$TMPDIR`` is on a shared file system).

Each block is one Slurm job of ``NODES`` nodes; each node runs ``WORKERS_PER_NODE`` workers,
each with ``CORES_PER_WORKER`` cores (set OMP/TensorFlow threads to match in ``worker_init``).
"""
from parsl.addresses import address_by_hostname
from parsl.config import Config
from parsl.executors import HighThroughputExecutor
from parsl.launchers import SrunLauncher
from parsl.providers import SlurmProvider

# --- Edit for your site ------------------------------------------------------------------
PARTITION = 'compute'           # sbatch --partition
ACCOUNT = 'my-allocation'       # sbatch --account
WALLTIME = '01:00:00'           # per block (Slurm job)
NODES = 2                       # nodes per block
MAX_BLOCKS = 1                  # Slurm jobs running at once
WORKERS_PER_NODE = 8
CORES_PER_WORKER = 4
ADDRESS = address_by_hostname()  # how nodes reach the steering process; or address_by_interface('ib0')
ENVIRONMENT = 'source /path/to/venv/bin/activate'  # makes examol, its plugins and Parsl available
# ------------------------------------------------------------------------------------------

config = Config(
    executors=[
        HighThroughputExecutor(
            label='examol_slurm',
            address=ADDRESS,
            max_workers_per_node=WORKERS_PER_NODE,
            cores_per_worker=CORES_PER_WORKER,
            provider=SlurmProvider(
                partition=PARTITION,
                account=ACCOUNT,
                nodes_per_block=NODES,
                init_blocks=1,
                min_blocks=0,
                max_blocks=MAX_BLOCKS,
                walltime=WALLTIME,
                launcher=SrunLauncher(),
                worker_init=f'{ENVIRONMENT}; export OMP_NUM_THREADS={CORES_PER_WORKER} TF_NUM_INTRAOP_THREADS='
                            f'{CORES_PER_WORKER} TF_CPP_MIN_LOG_LEVEL=2',
            ),
        )
    ],
    run_dir='runinfo',
    retries=1,                  # a task lost with its node is run once more before it is reported failed
)
