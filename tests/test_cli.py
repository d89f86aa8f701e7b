"""`examol train`, `examol score` and `examol model-info`, run in-process on a local task server.

The same commands through Parsl, from the shell, are in test_colmena_parsl.py.
"""
from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from examol_core import MoleculeRecord
from examol_core.cli import app, parse_settings
from examol_core.modelfile import load_model_file
from examol_core.records import write_records
from examol_core.testing import REFERENCE_SMILES, make_reference_records

TOP = 'oxidation_potential/high-adiabatic'
LOWER = ['oxidation_potential/low-vertical', 'oxidation_potential/medium-vertical']


@pytest.fixture
def files(tmp_path, savetoy):
    records = make_reference_records(missing_top=(2,))
    write_records(records, tmp_path / 'records.jsonl.gz')
    smiles = tmp_path / 'space.smi'
    smiles.write_text('# a search space\nCCO ethanol\nC1CC\n\nc1ccccc1\nCCCC\nnot-a-molecule\nCC(=O)C\n')
    return tmp_path, records


def _run(*args: str):
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    result.text = ' '.join(result.output.split())  # independent of line wrapping
    return result


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, newline='') as fp:
        return list(csv.DictReader(fp))


def test_train_then_score(files, savetoy):
    tmp, records = files
    result = _run('train', '--records', tmp / 'records.jsonl.gz', '--recipe', TOP, '--scorer', 'savetoy',
                  '--model', 'lookup', '--output', tmp / 'model.zip', '--local')
    assert result.exit_code == 0, result.output
    assert '18 records, 17 with oxidation_potential/high-adiabatic' in result.text
    manifest = json.loads(zipfile.ZipFile(tmp / 'model.zip').read('manifest.json'))
    assert manifest['scorer']['name'] == 'savetoy' and manifest['recipe'] == TOP
    assert manifest['training']['records'] == 17

    result = _run('score', '--model', tmp / 'model.zip', '--smiles', tmp / 'space.smi', '--output',
                  tmp / 'scores.csv', '--chunk-size', '2', '--local')
    assert result.exit_code == 0, result.output
    assert 'Scored 4 molecules' in result.text and '2 rejected' in result.text
    rows = _read(tmp / 'scores.csv')
    assert [(r['line'], r['smiles']) for r in rows] == [('2', 'CCO'), ('5', 'c1ccccc1'), ('6', 'CCCC'),
                                                        ('8', 'CC(=O)C')]
    assert list(rows[0]) == ['line', 'smiles', 'score'], 'no std column for a single model'
    rejects = _read(tmp / 'scores.rejects.csv')
    assert [(r['line'], r['smiles']) for r in rejects] == [('3', 'C1CC'), ('7', 'not-a-molecule')]
    assert rejects[0]['reason'] == 'unclosed ring'

    saved = load_model_file(tmp / 'model.zip')  # the scores are what the model gives in-process
    inputs = saved.scorer.transform_inputs([MoleculeRecord.from_identifier(r['smiles']) for r in rows])
    expected = saved.scorer.score(saved.scorer.prepare_message(saved.model), inputs)
    np.testing.assert_array_equal([float(r['score']) for r in rows], expected)


def test_ensemble_and_multifidelity(files, savetoy):
    tmp, records = files
    result = _run('train', '--records', tmp / 'records.jsonl.gz', '--recipe', TOP, '--lower', LOWER[0],
                  '--lower', LOWER[1], '--scorer', 'savetoy', '--model', 'lookup', '--output', tmp / 'model.zip',
                  '--ensemble', '3', '--seed', '5', '--local', '--workers', '2')
    assert result.exit_code == 0, result.output
    assert '18 with any of the levels' in result.text and '3 members' in result.text
    saved = load_model_file(tmp / 'model.zip')
    assert saved.manifest.lower_recipes == LOWER and saved.manifest.ensemble.bootstrap
    smiles = list(REFERENCE_SMILES)
    (tmp / 'ref.smi').write_text('\n'.join(smiles) + '\n')
    result = _run('score', '--model', tmp / 'model.zip', '--smiles', tmp / 'ref.smi', '--output', tmp / 'out.csv',
                  '--rejects', tmp / 'bad.csv', '--chunk-size', '5', '--local', '--workers', '2')
    assert result.exit_code == 0, result.output
    rows = _read(tmp / 'out.csv')
    assert [r['smiles'] for r in rows] == smiles and list(rows[0]) == ['line', 'smiles', 'score', 'std']
    # In-process: nothing is known about the molecules, so every level's delta is predicted
    scorer = saved.scorer
    inputs = scorer.transform_inputs([MoleculeRecord.from_identifier(s) for s in smiles])
    nothing = np.full((len(smiles), 2), np.nan)
    members = np.array([scorer.score(scorer.prepare_message(m), inputs, lower_fidelities=nothing)
                        for m in saved.members])
    np.testing.assert_allclose([float(r['score']) for r in rows], members.mean(axis=0))
    np.testing.assert_allclose([float(r['std']) for r in rows], members.std(axis=0))
    assert _read(tmp / 'bad.csv') == []
    assert max(float(r['std']) for r in rows) > 0, 'members trained on different bootstrap samples disagree somewhere'
    assert saved.manifest.training['seed'] == 5


def test_failed_chunk_is_reported_and_other_scores_kept(files, savetoy):
    tmp, _ = files
    result = _run('train', '--records', tmp / 'records.jsonl.gz', '--recipe', TOP, '--scorer', 'savetoy',
                  '--model', 'lookup', '--set', 'scorer.fail_on="CCCC"', '--output', tmp / 'model.zip', '--local')
    assert result.exit_code == 0, result.output
    result = _run('score', '--model', tmp / 'model.zip', '--smiles', tmp / 'space.smi', '--output',
                  tmp / 'scores.csv', '--chunk-size', '2', '--local')
    assert result.exit_code == 1, result.output
    assert 'Chunk 1 (lines 5-6 of' in result.text and "failed: ValueError('refusing to score CCCC')" in result.text
    rows = _read(tmp / 'scores.csv')
    assert [(r['line'], r['smiles']) for r in rows] == [('2', 'CCO'), ('8', 'CC(=O)C')], 'other chunks are kept'
    rejects = {r['line']: r['reason'] for r in _read(tmp / 'scores.rejects.csv')}
    assert sorted(rejects) == ['3', '5', '6', '7']
    assert rejects['3'] == 'unclosed ring'
    assert rejects['5'] == rejects['6'] == "task failed after 2 attempt(s): ValueError('refusing to score CCCC')"


@pytest.mark.parametrize(('args', 'message'), [
    (['--recipe', 'oxidation_potential'], 'not of the form NAME/LEVEL'),
    (['--scorer', 'nosuch'], "No scorer named 'nosuch' is installed"),
    (['--model', 'nosuch'], "Scorer 'savetoy' has no model 'nosuch'"),
    (['--set', 'nokey'], "--set 'nokey' is not of the form key=value"),
    (['--set', 'bad.key=1'], "unknown group 'bad'"),
    (['--set', 'size=3'], "unknown option of model savetoy/lookup 'size'"),
    (['--recipe', 'oxidation_potential/nosuch-vertical'], 'no record has oxidation_potential/nosuch-vertical; '
                                                           'properties found: oxidation_potential/high-adiabatic'),
    (['--records', 'missing.jsonl'], 'records file missing.jsonl does not exist'),
    (['--ensemble', '0'], '--ensemble must be at least 1'),
])
def test_train_errors_are_one_clear_line(files, args, message, monkeypatch):
    tmp, _ = files
    monkeypatch.chdir(tmp)
    options = {'--records': 'records.jsonl.gz', '--recipe': TOP, '--scorer': 'savetoy', '--model': 'lookup',
               '--output': 'model.zip'}
    extra = []
    for flag, value in zip(args[::2], args[1::2], strict=True):
        if flag in options:
            options[flag] = value
        else:
            extra += [flag, value]
    result = _run('train', *[x for kv in options.items() for x in kv], *extra, '--local')
    assert result.exit_code == 2, result.output
    assert message in result.text, result.output
    assert 'Traceback' not in result.output
    assert not (tmp / 'model.zip').exists()


def test_score_errors(files, savetoy, tmp_path):
    tmp, _ = files
    result = _run('score', '--model', tmp / 'nope.zip', '--smiles', tmp / 'space.smi', '--output', tmp / 'o.csv')
    assert result.exit_code == 2 and 'No model file' in result.output
    (tmp / 'junk.zip').write_text('junk')
    result = _run('score', '--model', tmp / 'junk.zip', '--smiles', tmp / 'space.smi', '--output', tmp / 'o.csv')
    assert result.exit_code == 2 and 'not an examol model file' in result.text
    assert not (tmp / 'o.csv').exists()


def test_model_info(files, savetoy):
    tmp, _ = files
    _run('train', '--records', tmp / 'records.jsonl.gz', '--recipe', TOP, '--scorer', 'savetoy', '--model',
         'lookup', '--set', 'scorer.delay=0', '--output', tmp / 'model.zip', '--local')
    result = _run('model-info', tmp / 'model.zip', '--json')
    assert result.exit_code == 0
    info = json.loads(result.output)
    assert info['scorer'] == {'name': 'savetoy', 'options': {'delay': 0}} and info['format_version'] == 1
    result = _run('model-info', tmp / 'model.zip')
    assert 'savetoy' in result.output and TOP in result.output


def test_parse_settings():
    assert parse_settings(['k=3', 'scorer.x=true', 'train.y=[1, 2]', 'name=knn'], 'model', ('model', 'scorer', 'train')) \
        == {'model': {'k': 3, 'name': 'knn'}, 'scorer': {'x': True}, 'train': {'y': [1, 2]}}
