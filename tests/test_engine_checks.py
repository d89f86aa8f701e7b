"""What `examol train` and `examol score` can check before a task server starts, they check there.

The task server is replaced by one that fails the test if started: each mistake must be caught
before, with one clear error naming the option, the file or the line.
"""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from examol_core import MoleculeRecord
from examol_core.cli import app
from examol_core.colmena import config
from examol_core.colmena.scoring import score_smiles_file
from examol_core.colmena.training import train_model_file
from examol_core.errors import DataFileError, InvalidIdentifierError, InvalidLabelsError, InvalidOptionError
from examol_core.modelfile import save_model_file
from examol_core.records import write_records
from examol_core.testing import make_reference_records

TOP = 'oxidation_potential/high-adiabatic'


@pytest.fixture
def no_server(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError('the task server was started before the mistake was noticed')
    monkeypatch.setattr(config, 'start_task_server', refuse)


@pytest.fixture
def files(tmp_path, savetoy):
    records = make_reference_records()
    write_records(records, tmp_path / 'records.jsonl')
    (tmp_path / 'space.smi').write_text('CCO\nc1ccccc1\n')
    save_model_file(tmp_path / 'model.zip', savetoy.LookupModel(), scorer_name='savetoy')
    return tmp_path


def _train(tmp, **kwargs):
    options = {'scorer_name': 'rdkit', 'model_name': 'knn', 'local': True, **kwargs}
    return train_model_file(tmp / 'records.jsonl', TOP, tmp / 'out.zip', **options)


@pytest.mark.parametrize(('options', 'error', 'message'), [
    ({'model_options': {'n_neighbors': 'abc'}}, InvalidOptionError, "n_neighbors must be an integer of at least 1; got 'abc'"),
    ({'model_options': {'n_neighbors': 0}}, InvalidOptionError, 'n_neighbors must be an integer of at least 1; got 0'),
    ({'model_options': {'n_neighbors': 2.5}}, InvalidOptionError, 'got 2.5'),
    ({'model_options': {'n_neighbors': -3}}, InvalidOptionError, 'got -3'),
    ({'model_options': {'radius': -1}}, InvalidOptionError, 'radius must be an integer of at least 0'),
    ({'model_options': {'bogus': 1}}, InvalidOptionError, "unknown option of model rdkit/knn 'bogus'"),
    ({'train_options': {'bogus': 1}}, InvalidOptionError, "unknown training option 'bogus'"),
    ({'scorer_options': {'bogus': 1}}, InvalidOptionError, "unknown scorer option 'bogus'"),
    ({'model_options': {'n_neighbors': 50}}, InvalidLabelsError, r'records.jsonl: Need at least 50 labelled records'),
])
def test_training_mistakes_are_caught_before_the_server_starts(files, no_server, options, error, message):
    pytest.importorskip('examol_rdkit', reason='trains the rdkit/knn model (the examol-rdkit plugin)')
    with pytest.raises(error, match=message):
        _train(files, **options)
    assert not (files / 'out.zip').exists()


def test_bad_smiles_in_the_records_file_names_the_line(files, no_server):
    pytest.importorskip('examol_rdkit', reason='trains the rdkit/knn model (the examol-rdkit plugin)')
    records = make_reference_records()
    records[6] = MoleculeRecord.model_validate({**records[6].model_dump(), 'identifier': {'smiles': 'C1CC', 'inchi': ''}})
    write_records(records, files / 'records.jsonl')
    with pytest.raises(InvalidIdentifierError, match=r"'C1CC' \(in .*records.jsonl, line 7\) could not be parsed"):
        _train(files)


def test_outputs_never_replace_inputs(files, no_server):
    before = {name: (files / name).read_bytes() for name in ('records.jsonl', 'space.smi', 'model.zip')}
    with pytest.raises(DataFileError, match=r'--output is the records file \(--records\)'):
        train_model_file(files / 'records.jsonl', TOP, files / 'records.jsonl', scorer_name='rdkit', model_name='knn')
    common = {'local': True}
    for output, rejects, message in [
        ('space.smi', None, r'--output is the SMILES file \(--smiles\)'),
        ('model.zip', None, r'--output is the model file \(--model\)'),
        ('scores.csv', 'space.smi', r'--rejects is the SMILES file'),
        ('scores.csv', 'scores.csv', r'--output and --rejects are the same file'),
    ]:
        with pytest.raises(DataFileError, match=message):
            score_smiles_file(files / 'model.zip', files / 'space.smi', files / output,
                              rejects=None if rejects is None else files / rejects, **common)
    assert before == {name: (files / name).read_bytes() for name in before}


def test_scoring_mistakes_are_caught_before_the_server_starts(files, no_server):
    with pytest.raises(InvalidOptionError, match="unknown scoring option 'bogus'"):
        score_smiles_file(files / 'model.zip', files / 'space.smi', files / 'o.csv', score_options={'bogus': 1})
    with pytest.raises(ValueError, match='--retries must be at least 0; got -1'):
        score_smiles_file(files / 'model.zip', files / 'space.smi', files / 'o.csv', retries=-1)


@pytest.mark.parametrize('args', [
    ['score', '--model', 'model.zip', '--smiles', 'space.smi', '-o', 'o.csv', '--set', 'bogus=1'],
    ['score', '--model', 'model.zip', '--smiles', 'space.smi', '-o', 'space.smi'],
    ['score', '--model', 'model.zip', '--smiles', 'space.smi', '-o', 'o.csv', '--retries', '-1'],
    ['train', '--records', 'records.jsonl', '--recipe', TOP, '--scorer', 'rdkit', '--model', 'knn', '-o', 'm.zip',
     '--set', 'train.bogus=1'],
    ['train', '--records', 'records.jsonl', '--recipe', TOP, '--scorer', 'rdkit', '--model', 'knn', '-o', 'm.zip',
     '--set', 'scorer.bogus=1'],
])
def test_command_says_it_in_one_line(files, no_server, monkeypatch, args):
    monkeypatch.chdir(files)
    result = CliRunner().invoke(app, [*args, '--local'], catch_exceptions=False)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert 'Traceback' not in result.output and lines[-1].startswith('Error:') and len(lines) <= 2, result.output
    assert (files / 'space.smi').read_text() == 'CCO\nc1ccccc1\n'


def test_comma_separated_smiles_files_are_read_by_their_first_field(tmp_path):
    from examol_core.colmena.scorefiles import read_smiles

    (tmp_path / 'space.csv').write_text('CCO,ethanol\nc1ccccc1 benzene\n')
    assert list(read_smiles(tmp_path / 'space.csv')) == [(1, 'CCO'), (2, 'c1ccccc1')]


def test_dead_workers_give_one_short_line_per_chunk_and_stop_the_run(tmp_path):
    from examol_core.colmena.jobs import TaskFailure
    from examol_core.colmena.scorefiles import ScoreWriter
    from examol_core.colmena.scoring import write_scores
    from examol_core.colmena.thinker import ChunkOutcome

    error = 'BadStateException: Executor examol_local failed due to: Error 1:\n' + '  STDERR: killed\n' * 500
    chunks = (ChunkOutcome(i, 2 * i, ['C', 'CC'], failure=TaskFailure(i, f't{i}', error), attempts=2,
                           lines=[2 * i + 1, 2 * i + 2]) for i in range(10_000))
    with ScoreWriter(tmp_path / 'o.csv', ensemble=False) as writer:
        summary = write_scores(chunks, writer, give_up_after=4)
        writer.commit()
    assert len(summary.failed_chunks) == 4 and not summary.ok
    assert 'stopped after 4 chunks in a row failed' in summary.stopped and 'workers appear to be gone' in summary.stopped
    rejects = (tmp_path / 'o.rejects.csv').read_text().splitlines()
    assert len(rejects) == 1 + 8, 'the rest of the input is not written as rejected'
    assert max(len(row) for row in rejects) < 300 and 'STDERR' not in rejects[1]
    assert str(summary.failed_chunks[0].failure).count('\n') == 0


def test_parsl_errors_reach_the_console_once_per_kind_on_one_line(caplog):
    import logging

    from examol_core.colmena.parslsetup import _WarningsOnly

    source = logging.getLogger('parsl.test_dedupe')
    source.propagate = False
    source.addHandler(_WarningsOnly())
    try:
        with caplog.at_level(logging.WARNING):
            for task in range(1000):
                try:
                    raise RuntimeError('executor failed\n' + 'detail\n' * 30)
                except RuntimeError:
                    source.error('Task %s failed after 0 retry attempts', task, exc_info=True)
    finally:
        source.handlers.clear()
    shown = [r for r in caplog.records if r.name == 'parsl.test_dedupe']
    assert len(shown) == 1 and '\n' not in shown[0].getMessage() and shown[0].exc_info is None
