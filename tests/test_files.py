"""Files read and written by examol, treated as hostile or damaged: one clear error naming the file."""
from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from examol_core import MoleculeRecord, read_records, write_records
from examol_core.errors import DataFileError, InvalidIdentifierError, InvalidLabelsError
from examol_core.files import PARTIAL_SUFFIX, clean_stale_partials, partial_path
from examol_core.multifi import check_lower_fidelities


@pytest.fixture
def records():
    return [MoleculeRecord.from_identifier(s) for s in ('C', 'CC', 'CCO', 'c1ccccc1', 'CC(=O)O', 'CCN') * 20]


def _read(path):
    return list(read_records(path))


def test_truncated_gzip_names_the_file_and_the_records_read(tmp_path, records):
    path = tmp_path / 'records.jsonl.gz'
    with gzip.open(path, 'wb', compresslevel=0) as fp:  # stored: the cut falls at a known record
        for record in records:
            fp.write(record.model_dump_json().encode() + b'\n')
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(DataFileError, match=r'records.jsonl.gz is truncated: .* after line (\d+) \(\1 records read\)'):
        _read(path)


@pytest.mark.parametrize(('name', 'content', 'message'), [
    ('plain.jsonl.gz', b'{"key": "x"}\n', 'plain.jsonl.gz is not gzip-compressed although its name ends in .gz'),
    ('packed.jsonl', gzip.compress(b'{"key": "x"}\n'), 'packed.jsonl is gzip-compressed but its name does not end'),
    ('latin.jsonl', b'\n\n{"key": "caf\xe9"}\n', r'latin.jsonl:3: not UTF-8 text'),
])
def test_files_in_another_form_than_their_name_says(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(DataFileError, match=message):
        _read(tmp_path / name)


def test_damaged_gzip_is_named(tmp_path, records):
    path = tmp_path / 'records.jsonl.gz'
    write_records(records, path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2:len(data) // 2 + 8] = b'\xff' * 8
    path.write_bytes(bytes(data))
    with pytest.raises(DataFileError, match=r'records.jsonl.gz(:\d+: not a valid molecule record| is damaged)'):
        _read(path)


def test_folders_and_paths_through_files(tmp_path, records):
    with pytest.raises(DataFileError, match='is a folder, not a records file'):
        _read(tmp_path)
    (tmp_path / 'afile').write_text('x')
    with pytest.raises(DataFileError, match='afile is a file, not a folder'):
        write_records(records, tmp_path / 'afile' / 'out.jsonl')
    with pytest.raises(DataFileError, match='it is a folder'):
        write_records(records, tmp_path)
    assert (tmp_path / 'afile').read_text() == 'x'


_SLOW_WRITER = '''
import sys, time
from examol_core import MoleculeRecord, write_records
def slow():
    yield MoleculeRecord.from_identifier('C')
    print('writing', flush=True)
    time.sleep(600)
write_records(slow(), sys.argv[1])
'''


def test_temporary_left_by_a_killed_writer_is_named_and_cleaned(tmp_path, records):
    path = tmp_path / 'records.jsonl'
    write_records(records[:1], path)
    writer = subprocess.Popen([sys.executable, '-c', textwrap.dedent(_SLOW_WRITER), str(path)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert writer.stdout.readline().strip() == 'writing'
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
    finally:
        writer.kill()
    left = [p for p in tmp_path.iterdir() if p != path]
    assert len(left) == 1 and left[0].name.startswith('.records.jsonl.') and left[0].name.endswith(PARTIAL_SUFFIX)
    assert len(_read(path)) == 1, 'the original is intact'
    write_records(records, path)
    assert sorted(tmp_path.iterdir()) == [path], 'the next write removed the stale temporary'


def test_temporaries_of_live_processes_are_kept(tmp_path):
    target = tmp_path / 'x.jsonl'
    mine = partial_path(target)
    mine.write_text('in progress')
    assert clean_stale_partials(target) == [] and mine.exists()


def test_one_mode_rule_for_records_and_model_files(tmp_path, records, savetoy):
    from examol_core.modelfile import save_model_file

    umask = os.umask(0o022)
    try:
        write_records(records, tmp_path / 'r.jsonl.gz')
        save_model_file(tmp_path / 'm.zip', savetoy.LookupModel(), scorer_name='savetoy')
    finally:
        os.umask(umask)
    assert {(tmp_path / n).stat().st_mode & 0o777 for n in ('r.jsonl.gz', 'm.zip')} == {0o644}


def test_identifier_with_a_second_field_is_refused():
    with pytest.raises(InvalidIdentifierError, match="'CCO CC' contains whitespace"):
        MoleculeRecord.from_identifier('CCO CC')
    assert MoleculeRecord.from_identifier(' CCO\n').identifier.smiles == 'CCO', 'surrounding blanks are fine'


def test_molecule_too_large_for_an_inchi_is_refused_quickly_with_the_reason():
    start = time.perf_counter()
    with pytest.raises(InvalidIdentifierError, match=r'has 1100 heavy atoms; an InChI.* at most 1023') as info:
        MoleculeRecord.from_identifier('C' * 1100)
    assert time.perf_counter() - start < 5
    assert len(str(info.value)) < 300, 'the message does not repeat the whole SMILES'
    assert MoleculeRecord.from_identifier('C' * 1023).key


def test_parse_errors_give_rdkit_reason():
    with pytest.raises(InvalidIdentifierError, match="'C1CC' could not be parsed: unclosed ring"):
        MoleculeRecord.from_identifier('C1CC')


def test_infinite_lower_fidelities_are_refused_at_inference_as_in_training():
    with pytest.raises(InvalidLabelsError, match=r'infinite values \(first at row 1, level 0\)'):
        check_lower_fidelities(2, np.array([[1.], [np.inf]]))
    assert check_lower_fidelities(2, np.array([[1.], [np.nan]])).shape == (2, 1)


def test_a_folder_given_as_training_records_is_named_as_a_folder(tmp_path):
    from examol_core.colmena.training import load_training_set

    with pytest.raises(DataFileError, match='is a folder, not a records file'):
        load_training_set(tmp_path, 'oxidation_potential/gfn2-adiabatic')
    with pytest.raises(FileNotFoundError, match='does not exist'):
        load_training_set(tmp_path / 'nope.jsonl', 'oxidation_potential/gfn2-adiabatic')


def test_a_molecule_too_large_for_an_inchi_is_rejected_with_that_reason(savetoy):
    from examol_core.colmena.methods import score_smiles_task
    from examol_core.testing import FIDELITIES, make_reference_records

    records = make_reference_records()
    scorer, model = savetoy.SaveableLookupScorer(), savetoy.LookupModel()
    update = scorer.retrain(scorer.prepare_message(model, training=True), scorer.transform_inputs(records),
                            scorer.transform_outputs(records, FIDELITIES[-1]))
    message = scorer.prepare_message(scorer.update(model, update))
    result = score_smiles_task(scorer, message, ['CCO', 'C' * 1100, 'C1CC'])
    reasons = dict(result.rejects)
    assert 'has 1100 heavy atoms' in reasons[1] and reasons[2] == 'unclosed ring'
