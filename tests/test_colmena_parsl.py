"""End to end on a real Parsl task server (HighThroughputExecutor, two local workers).

One task server serves every scorer of the module: the RDKit scorer (and NFP) when installed,
and the saveable toy scorer set up to raise on, or kill the worker for, chosen molecules.
The commands are then run from the shell on the shipped data, as a new user would.
"""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import examol_core
from examol_core.colmena import ScorerClient, default_parsl_config, make_methods, start_task_server, wait_all
from examol_core.scorer import Scorer
from examol_core.testing import FIDELITIES, REFERENCE_SMILES, make_reference_records

pytestmark = pytest.mark.slow

SUPPORT = [Path(__file__).parent / 'toy_plugin', Path(__file__).parent / 'colmena_support']
DATA = Path(examol_core.__file__).parent / 'data'
KILL_ON, FAIL_ON = 'c1ccccc1', 'CCCC'  # in chunks 1 and 4 of the reference molecules, 4 per chunk


def _rdkit():
    try:
        from examol_rdkit import RDKitScorer, make_knn_model
    except ImportError:
        return None
    return RDKitScorer, make_knn_model


def _nfp():
    try:
        from examol_nfp import scorer as nfp_scorer  # noqa: F401 - no TensorFlow yet
    except ImportError:
        return None
    return nfp_scorer.NFPScorer


NFP_NETWORK = {'atom_features': 16, 'message_steps': 2, 'output_layers': [16]}
NFP_TRAINING = {'num_epochs': 2, 'batch_size': 16, 'validation_split': 0.0, 'patience': None}


def _search_space(n: int) -> list[str]:
    path = DATA / 'search-space.smi'
    if not path.is_file():
        return list(REFERENCE_SMILES)
    return [line.split()[0] for line in path.read_text().splitlines() if line.strip()][:n]


@pytest.fixture(scope='module')
def server(tmp_path_factory):
    """A Parsl task server with the methods of every scorer the tests use."""
    import examol_savetoy  # noqa: F401 - importable thanks to the path set below

    flags = tmp_path_factory.mktemp('flags')
    scorers = {
        'savetoy': examol_savetoy.SaveableLookupScorer(),
        'killer': examol_savetoy.SaveableLookupScorer(kill_on=KILL_ON, flag=str(flags / 'kill'), once=True),
        'failer': examol_savetoy.SaveableLookupScorer(fail_on=FAIL_ON, flag=str(flags / 'fail')),
    }
    if _rdkit() is not None:
        scorers['rdkit'] = _rdkit()[0]()
    if _nfp() is not None:
        scorers['nfp'] = _nfp()()
    methods = {name: make_methods(scorer, name, retrain_options=NFP_TRAINING if name == 'nfp' else None)
               for name, scorer in scorers.items()}
    config = default_parsl_config(2, tmp_path_factory.mktemp('runinfo'), heartbeat_period=1, heartbeat_threshold=10)
    with pytest.MonkeyPatch.context() as mp:  # workers import the test scorers through PYTHONPATH
        mp.setenv('PYTHONPATH', os.pathsep.join([*map(str, SUPPORT), os.environ.get('PYTHONPATH', '')]))
        with start_task_server([f for m in methods.values() for f in m], parsl_config=config,
                               proxy_threshold=10_000) as handle:
            handle.clients = {name: ScorerClient(handle.queues, scorers[name], methods[name]) for name in scorers}
            handle.flags = flags
            yield handle


@pytest.fixture(scope='module', autouse=True)
def support_path():
    with pytest.MonkeyPatch.context() as mp:
        for path in SUPPORT:
            mp.syspath_prepend(str(path))
        yield


def _wait(server, job):
    job.wait(timeout=120, check_alive=server.check_alive)
    return job


def test_rdkit_through_parsl_matches_in_process(server):
    if 'rdkit' not in server.clients:
        pytest.skip('examol-rdkit is not installed')
    RDKitScorer, make_knn_model = _rdkit()
    client = server.clients['rdkit']
    records = make_reference_records(_search_space(200))
    scorer = RDKitScorer()
    inputs = scorer.transform_inputs(records)
    outputs = scorer.transform_outputs(records, FIDELITIES[-1])
    train, test = slice(0, 150), slice(150, None)

    job = _wait(server, client.submit_retrain(make_knn_model(), inputs[train], outputs[train]))
    assert job.ok, job.failures
    remote_model = job.update(make_knn_model())
    scoring = _wait(server, client.submit_score(remote_model, inputs[test], chunk_size=16))
    remote = scoring.collect().mean

    local_model = make_knn_model()
    local_model = scorer.update(local_model, scorer.retrain(scorer.prepare_message(local_model, training=True),
                                                            inputs[train], outputs[train]))
    np.testing.assert_array_equal(remote, scorer.score(scorer.prepare_message(local_model), inputs[test]))

    # A bootstrap ensemble of two, scored together in each chunk
    models = [make_knn_model(), make_knn_model()]
    job = _wait(server, client.submit_retrain(models, inputs[train], outputs[train], seed=3))
    models = job.update(models)
    scores = _wait(server, client.submit_score(models, inputs[test], chunk_size=25)).collect()
    expected = [scorer.score(scorer.prepare_message(m), inputs[test]) for m in models]
    np.testing.assert_array_equal(scores.members, expected)
    assert scores.std.shape == remote.shape


def test_nfp_through_parsl_matches_in_process(server, tmp_path):
    if 'nfp' not in server.clients:
        pytest.skip('examol-nfp is not installed')
    from examol_core.modelfile import load_model_file, save_model_file
    from examol_core.plugins import make_model

    client = server.clients['nfp']
    scorer = client.scorer
    records = make_reference_records(_search_space(48))
    inputs = scorer.transform_inputs(records)
    outputs = scorer.transform_outputs(records, FIDELITIES[-1])
    model = make_model('nfp', 'mpnn', **NFP_NETWORK)
    job = _wait(server, client.submit_retrain(model, inputs, outputs))
    assert job.ok, job.failures
    model = job.update(model)
    remote = _wait(server, client.submit_score(model, inputs, chunk_size=20)).collect().mean
    np.testing.assert_allclose(remote, scorer.score(scorer.prepare_message(model), inputs), rtol=1e-5, atol=1e-6)

    save_model_file(tmp_path / 'nfp.zip', model, scorer_name='nfp', model_name='mpnn', model_options=NFP_NETWORK)
    saved = load_model_file(tmp_path / 'nfp.zip')
    np.testing.assert_allclose(saved.scorer.score(saved.scorer.prepare_message(saved.model), inputs), remote,
                               rtol=1e-5, atol=1e-6)


def test_killed_worker_and_raising_chunk_are_reported_and_resubmitted(server):
    import examol_savetoy

    plain = examol_savetoy.SaveableLookupScorer()
    records = make_reference_records()
    inputs = plain.transform_inputs(records)
    outputs = plain.transform_outputs(records, FIDELITIES[-1])
    model = plain.update(examol_savetoy.LookupModel(),
                         plain.retrain(None, inputs, outputs))
    expected = plain.score(plain.prepare_message(model), inputs)
    assert inputs.index(KILL_ON) // 4 == 1 and inputs.index(FAIL_ON) // 4 == 4

    (server.flags / 'kill').touch()
    (server.flags / 'fail').touch()
    killed = server.clients['killer'].submit_score(model, inputs, chunk_size=4)
    raised = server.clients['failer'].submit_score(model, inputs, chunk_size=4)
    wait_all([killed, raised], timeout=120, check_alive=server.check_alive)  # they share the 'score' topic
    assert list(killed.failures) == [1] and 'WorkerLost' in killed.failures[1].exception
    assert list(raised.failures) == [4] and 'refusing to score CCCC' in raised.failures[4].exception
    for job, bad in ((killed, 1), (raised, 4)):
        partial = job.collect(allow_missing=True)
        rows = np.arange(len(inputs)) // 4 == bad
        np.testing.assert_array_equal(partial.missing, rows)
        np.testing.assert_array_equal(partial.mean[~rows], expected[~rows])

    (server.flags / 'fail').unlink()  # the kill flag was removed by the dying worker
    killed.resubmit()
    raised.resubmit()
    wait_all([killed, raised], timeout=120, check_alive=server.check_alive)
    np.testing.assert_array_equal(killed.collect().mean, expected)
    np.testing.assert_array_equal(raised.collect().mean, expected)


def _shipped_data() -> tuple[Path, Path]:
    records, smiles = DATA / 'redoxmers-oxidation.jsonl.gz', DATA / 'search-space.smi'
    if not records.is_file() or not smiles.is_file():
        pytest.skip(f'the shipped data ({records.name}, {smiles.name}) are not in {DATA} yet')
    return records, smiles


def test_commands_from_the_shell(tmp_path):
    if _rdkit() is None:
        pytest.skip('examol-rdkit is not installed')
    if _rdkit()[0].save_model is Scorer.save_model:
        pytest.skip('examol-rdkit cannot save models yet')
    records, smiles = _shipped_data()
    env = {**os.environ, 'PATH': os.pathsep.join(p for p in os.environ['PATH'].split(os.pathsep)
                                                 if Path(sys.executable).parent != Path(p))}
    examol = [sys.executable, '-m', 'examol_core']  # `examol` itself, whose bin/ may not be on PATH
    run = subprocess.run([*examol, 'train', '--records', str(records), '--recipe',
                          'oxidation_potential/gfn2-adiabatic', '--scorer', 'rdkit', '--model', 'knn',
                          '--set', 'n_neighbors=4', '--output', str(tmp_path / 'model.zip'), '--workers', '1'],
                         capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    run = subprocess.run([*examol, 'score', '--model', str(tmp_path / 'model.zip'), '--smiles', str(smiles),
                          '--output', str(tmp_path / 'scores.csv'), '--chunk-size', '250',
                          '--parsl-config', str(Path(__file__).parents[1] / 'examples' / 'parsl_local.py')],
                         capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    with open(tmp_path / 'scores.csv', newline='') as fp:
        rows = list(csv.DictReader(fp))
    with open(tmp_path / 'scores.rejects.csv', newline='') as fp:
        rejects = list(csv.DictReader(fp))
    lines = [line.split()[0] for line in smiles.read_text().splitlines() if line.strip()]
    assert len(rows) + len(rejects) == len(lines)
    assert [r['smiles'] for r in rows] == [s for s in lines if s not in {r['smiles'] for r in rejects}]

    from examol_core.modelfile import load_model_file
    from examol_core.records import MoleculeRecord

    saved = load_model_file(tmp_path / 'model.zip')
    assert saved.manifest.model.options == {'n_neighbors': 4}
    head = rows[:50]
    inputs = saved.scorer.transform_inputs([MoleculeRecord.from_identifier(r['smiles']) for r in head])
    np.testing.assert_allclose([float(r['score']) for r in head],
                               saved.scorer.score(saved.scorer.prepare_message(saved.model), inputs))
