"""The HPC path on a real scheduler: Parsl's SlurmProvider + HighThroughputExecutor on a one-node Slurm cluster.

Every test loads the shipped ``examples/parsl_slurm.py``, its site values set through its
``EXAMOL_SLURM_*`` environment variables, so that the template users copy is the one tested.
Needs a cluster (``.ci/slurm-up`` starts one as root); skipped without one unless
``EXAMOL_REQUIRE_SLURM=1``. Parsl submits one Slurm job (block) per run: ``SLURM_JOB_ID`` is set
in its tasks, and each task records it in its result's ``worker_info``.
"""
from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import examol_core
from examol_core.colmena import ScorerClient, make_methods, start_task_server
from examol_core.testing import FIDELITIES, make_reference_records

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

ROOT = Path(__file__).parents[1]
EXAMPLE = ROOT / 'examples' / 'parsl_slurm.py'
DATA = Path(examol_core.__file__).parent / 'data'
SUPPORT = [Path(__file__).parent / 'toy_plugin', Path(__file__).parent / 'colmena_support']
TIMEOUT = 240  # a test that waits longer than this has hung: fail it


@pytest.fixture
def slurm_site(slurm_partition, tmp_path, monkeypatch) -> dict[str, str]:
    """Site values of the example for this one-node cluster, set in the environment (and returned)."""
    bindir = str(Path(sys.executable).parent)
    pythonpath = os.pathsep.join([*map(str, SUPPORT), os.environ.get('PYTHONPATH', '')])
    site = {
        'EXAMOL_SLURM_PARTITION': slurm_partition, 'EXAMOL_SLURM_ACCOUNT': '', 'EXAMOL_SLURM_WALLTIME': '00:10:00',
        'EXAMOL_SLURM_NODES': '1', 'EXAMOL_SLURM_WORKERS_PER_NODE': '2', 'EXAMOL_SLURM_CORES_PER_WORKER': '1',
        'EXAMOL_SLURM_ADDRESS': '127.0.0.1', 'EXAMOL_SLURM_LAUNCHER': 'single', 'EXAMOL_SLURM_STRATEGY_PERIOD': '1',
        'EXAMOL_SLURM_HEARTBEAT_PERIOD': '1', 'EXAMOL_SLURM_HEARTBEAT_THRESHOLD': '5',
        'EXAMOL_SLURM_RUN_DIR': str(tmp_path / 'runinfo'),
        # Workers import the test scorers (pickled by reference) and find Parsl's scripts
        'EXAMOL_SLURM_ENVIRONMENT': f'export PATH={bindir}:$PATH PYTHONPATH={pythonpath}',
    }
    for key, value in site.items():
        monkeypatch.setenv(key, value)
    return site


def _our_jobs() -> set[str]:
    """Ids of the Slurm jobs in the queue (running or pending)."""
    out = subprocess.run(['squeue', '-h', '-o', '%i'], capture_output=True, text=True, timeout=30).stdout
    return set(out.split())


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline='') as fp:
        return list(csv.DictReader(fp))


def _examol(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    run = subprocess.run([sys.executable, '-m', 'examol_core', *map(str, args)], capture_output=True, text=True,
                         timeout=TIMEOUT, cwd=cwd)
    assert run.returncode == 0, run.stdout + run.stderr
    return run


def test_score_command_through_slurm_equals_a_local_run(slurm_site, tmp_path):
    pytest.importorskip('examol_rdkit')
    records, smiles = DATA / 'redoxmers-oxidation.jsonl.gz', DATA / 'search-space.smi'
    _examol('train', '--records', records, '--recipe', 'oxidation_potential/gfn2-adiabatic', '--scorer', 'rdkit',
            '--model', 'knn', '--set', 'n_neighbors=4', '--ensemble', '2', '--output', 'knn.zip', '--local',
            cwd=tmp_path)
    before = _our_jobs()
    _examol('score', '--model', 'knn.zip', '--smiles', smiles, '--output', 'slurm.csv', '--chunk-size', '200',
            '--parsl-config', EXAMPLE, cwd=tmp_path)
    _examol('score', '--model', 'knn.zip', '--smiles', smiles, '--output', 'local.csv', '--chunk-size', '200',
            '--local', cwd=tmp_path)
    assert (tmp_path / 'slurm.csv').read_bytes() == (tmp_path / 'local.csv').read_bytes()
    assert len(_rows(tmp_path / 'slurm.csv')) > 500
    # The work ran in a Slurm job that Parsl submitted, and that ended with the command
    scripts = list((tmp_path / 'runinfo').glob('*/submit_scripts/*.stdout'))
    assert scripts, 'Parsl submitted no batch job'
    assert f'#SBATCH --partition={slurm_site["EXAMOL_SLURM_PARTITION"]}' in scripts[0].with_suffix('').read_text()
    assert _our_jobs() <= before, 'the Slurm job outlived the command'


def _toy_model(scorer):
    import examol_savetoy

    records = make_reference_records()
    inputs = scorer.transform_inputs(records)
    outputs = scorer.transform_outputs(records, FIDELITIES[-1])
    model = scorer.update(examol_savetoy.LookupModel(), scorer.retrain(None, inputs, outputs))
    return model, inputs, scorer.score(scorer.prepare_message(model), inputs)


def test_each_task_records_its_slurm_job(slurm_site, savetoy):
    scorer = savetoy.SaveableLookupScorer()
    model, inputs, expected = _toy_model(scorer)
    methods = make_methods(scorer, 'savetoy')
    with start_task_server(methods, parsl_config=EXAMPLE) as server:
        client = ScorerClient(server.queues, scorer, methods)
        chunks = list(client.stream_smiles(model, inputs, chunk_size=3, check_alive=server.check_alive))
        # Any task's Colmena result carries it too, in worker_info
        server.queues.send_inputs(scorer.prepare_message(model), inputs[:4], method=methods.score.__name__,
                                  topic='score')
        result = server.queues.get_result(topic='score', timeout=TIMEOUT)
        running = _our_jobs()
    jobs = {c.worker.get('batch_job_id') for c in chunks}
    assert len(jobs) == 1 and None not in jobs, [c.worker for c in chunks]
    assert jobs <= running, f'{jobs} is not a Slurm job of this cluster ({running})'
    assert {c.worker['batch_scheduler'] for c in chunks} == {'slurm'}
    np.testing.assert_array_equal(np.concatenate([c.mean for c in chunks]), expected)
    assert result.success, result.failure_info
    assert result.worker_info.batch_job_id in jobs and result.worker_info.batch_scheduler == 'slurm'


def test_cancelled_job_loses_no_chunk_and_nothing_hangs(slurm_site, savetoy):
    """``scancel`` the block under a running stream: its chunks come back from a new block, in order."""
    scorer = savetoy.SaveableLookupScorer(delay=0.3)
    model, inputs, expected = _toy_model(scorer)
    smiles = list(inputs) * 4
    expected = np.tile(expected, 4)
    assert len(smiles) // 2 > 6, 'more chunks than fit in flight, or none would be left for a new block'
    methods = make_methods(scorer, 'savetoy')
    start = time.monotonic()
    cancelled = None
    chunks = []
    with start_task_server(methods, parsl_config=EXAMPLE) as server:
        client = ScorerClient(server.queues, scorer, methods)
        for chunk in client.stream_smiles(model, smiles, chunk_size=2, max_in_flight=6, retries=2,
                                          check_alive=server.check_alive):
            chunks.append(chunk)
            if cancelled is None:
                cancelled = chunk.worker['batch_job_id']
                subprocess.run(['scancel', cancelled], check=True, timeout=30)
            assert time.monotonic() - start < TIMEOUT, 'the stream hung after its Slurm job was cancelled'
    assert [c.index for c in chunks] == list(range(len(chunks)))
    scored = np.concatenate([c.mean if c.failure is None else np.full(len(c.smiles), np.nan) for c in chunks])
    failed = [c for c in chunks if c.failure is not None]
    assert len(scored) == len(smiles)
    np.testing.assert_array_equal(scored[~np.isnan(scored)], expected[~np.isnan(scored)])  # aligned
    assert not failed, f'chunks lost with the cancelled job were not resubmitted: {[str(c.failure) for c in failed]}'
    later = {c.worker['batch_job_id'] for c in chunks[1:]}
    assert later - {cancelled}, 'no chunk ran in a new Slurm job after the first was cancelled'


def test_readme_thinker_trains_and_scores_through_slurm(slurm_site, tmp_path):
    pytest.importorskip('examol_rdkit')
    thinker = ROOT / 'examples' / 'colmena_thinker.py'
    args = [sys.executable, str(thinker), '--ensemble', '2', '--chunk-size', '200', '--top', '8']
    slurm = subprocess.run([*args, '--parsl-config', str(EXAMPLE)], capture_output=True, text=True, timeout=TIMEOUT,
                           cwd=tmp_path)
    assert slurm.returncode == 0, slurm.stdout + slurm.stderr
    local = subprocess.run([*args, '--local'], capture_output=True, text=True, timeout=TIMEOUT, cwd=tmp_path)
    assert local.returncode == 0, local.stdout + local.stderr
    assert slurm.stdout == local.stdout and '(0 missing)' in slurm.stdout
    assert list((tmp_path / 'runinfo').glob('*/submit_scripts/*.stdout')), 'Parsl submitted no batch job'

