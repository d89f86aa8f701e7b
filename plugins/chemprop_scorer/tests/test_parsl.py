"""Through a real Parsl task server, and through the ``examol`` commands from the shell.

Training and scoring on Parsl workers (HighThroughputExecutor, fresh processes) must give what
the same calls give in-process, single- and multi-fidelity; a model file written by
``examol train --scorer chemprop`` must score from the shell with ``examol score``.
"""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from examol_chemprop import ChempropScorer

import examol_core
from examol_core.colmena import ScorerClient, default_parsl_config, make_methods, start_task_server
from examol_core.multifi import collect_outputs
from examol_core.testing import FIDELITIES, REFERENCE_SMILES, make_reference_records

pytestmark = pytest.mark.slow

DATA = Path(examol_core.__file__).parent / 'data'
NETWORK = {'hidden_size': 16, 'depth': 2, 'ffn_hidden_size': 16}
TRAINING = {'num_epochs': 3, 'batch_size': 16, 'validation_split': 0.0, 'patience': None, 'seed': 5}


def _smiles(n: int) -> list[str]:
    path = DATA / 'search-space.smi'
    lines = [line.split()[0] for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []
    return (lines or list(REFERENCE_SMILES))[:n]


@pytest.fixture(scope='module')
def server(tmp_path_factory):
    scorer = ChempropScorer()
    methods = make_methods(scorer, 'chemprop', retrain_options=TRAINING)
    config = default_parsl_config(2, tmp_path_factory.mktemp('runinfo'), heartbeat_period=1, heartbeat_threshold=10)
    with start_task_server(list(methods), parsl_config=config, proxy_threshold=10_000) as handle:
        handle.client = ScorerClient(handle.queues, scorer, methods)
        yield handle


def _wait(server, job):
    job.wait(timeout=300, check_alive=server.check_alive)
    assert job.ok, job.failures
    return job


@pytest.mark.parametrize('multi', [False, True], ids=['single', 'multi'])
def test_parsl_matches_in_process(server, tmp_path, multi):
    from examol_core.modelfile import load_model_file, save_model_file
    from examol_core.plugins import make_model

    scorer = server.client.scorer
    records = make_reference_records(_smiles(60), missing_top=(3, 10) if multi else ())
    inputs = scorer.transform_inputs(records)
    outputs = scorer.transform_outputs(records, FIDELITIES[-1])
    lower = collect_outputs(records, FIDELITIES[:-1]) if multi else None
    options = {**NETWORK, 'outputs': 3 if multi else 1}
    model = make_model('chemprop', 'mpnn', **options)
    remote_model = _wait(server, server.client.submit_retrain(model, inputs, outputs, lower_fidelities=lower)).update(
        make_model('chemprop', 'mpnn', **options))
    local_model = scorer.update(make_model('chemprop', 'mpnn', **options), scorer.retrain(
        scorer.prepare_message(model, training=True), inputs, outputs, lower_fidelities=lower, **TRAINING))
    for name, value in local_model.weights.items():  # same seed, same data: the same network
        np.testing.assert_allclose(remote_model.weights[name], value, rtol=1e-5, atol=1e-6, err_msg=name)

    kwargs = {} if lower is None else {'lower_fidelities': lower}
    remote = _wait(server, server.client.submit_score(remote_model, inputs, chunk_size=16, **kwargs)).collect().mean
    expected = scorer.score(scorer.prepare_message(remote_model), inputs, **kwargs)
    np.testing.assert_allclose(remote, expected, rtol=1e-5, atol=1e-6)

    save_model_file(tmp_path / 'model.zip', remote_model, scorer_name='chemprop', model_name='mpnn',
                    model_options=options)
    saved = load_model_file(tmp_path / 'model.zip')
    np.testing.assert_allclose(saved.scorer.score(saved.scorer.prepare_message(saved.model), inputs, **kwargs), remote,
                               rtol=1e-5, atol=1e-6)


def test_commands_from_the_shell(tmp_path):
    records, smiles = DATA / 'redoxmers-oxidation.jsonl.gz', DATA / 'search-space.smi'
    if not records.is_file() or not smiles.is_file():
        pytest.skip(f'the shipped data are not in {DATA}')
    examol = [sys.executable, '-m', 'examol_core']
    env = {**os.environ, 'PATH': f'{Path(sys.executable).parent}{os.pathsep}{os.environ["PATH"]}'}
    run = subprocess.run([*examol, 'train', '--records', str(records), '--recipe', 'oxidation_potential/gfn2-adiabatic',
                          '--lower', 'oxidation_potential/gfn1-vertical', '--scorer', 'chemprop', '--model', 'mpnn',
                          '--set', 'hidden_size=32', '--set', 'ffn_hidden_size=32', '--set', 'outputs=2',
                          '--set', 'train.num_epochs=3', '--output', str(tmp_path / 'model.zip'), '--workers', '1'],
                         capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    run = subprocess.run([*examol, 'score', '--model', str(tmp_path / 'model.zip'), '--smiles', str(smiles),
                          '--output', str(tmp_path / 'scores.csv'), '--chunk-size', '250', '--workers', '2'],
                         capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    with open(tmp_path / 'scores.csv', newline='') as fp:
        rows = list(csv.DictReader(fp))
    lines = [line.split()[0] for line in smiles.read_text().splitlines() if line.strip()]
    assert [r['smiles'] for r in rows] == lines

    from examol_core.modelfile import load_model_file

    saved = load_model_file(tmp_path / 'model.zip')
    assert saved.manifest.lower_recipes == ['oxidation_potential/gfn1-vertical']
    head = [r['smiles'] for r in rows[:40]]
    # Nothing is known about new molecules: the estimate sums the predicted lowest level and delta
    expected = saved.scorer.score(saved.scorer.prepare_message(saved.model), saved.scorer.transform_inputs(head),
                                  lower_fidelities=np.full((len(head), 1), np.nan))
    np.testing.assert_allclose([float(r['score']) for r in rows[:40]], expected, rtol=1e-6)
