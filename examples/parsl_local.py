"""The Parsl configuration examol uses by default, as a file to copy and adapt.

`examol score --parsl-config examples/parsl_local.py ...` is the same as `--workers 2`.
"""
from parsl.config import Config
from parsl.executors import HighThroughputExecutor
from parsl.providers import LocalProvider

WORKERS = 2

config = Config(
    executors=[
        HighThroughputExecutor(
            label='examol_local',
            address='127.0.0.1',
            max_workers_per_node=WORKERS,
            cores_per_worker=1e-6,          # let max_workers_per_node alone decide the number of workers
            heartbeat_period=5,             # a killed worker is reported within about this many seconds
            heartbeat_threshold=30,
            provider=LocalProvider(init_blocks=1, min_blocks=1, max_blocks=1),
        )
    ],
    run_dir='runinfo',
    strategy='none',
    strategy_period=0.2,                # Parsl launches even the first block at its first poll (default 5 s)
)
