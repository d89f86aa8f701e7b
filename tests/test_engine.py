"""The engine behind `examol train` and `examol score`, called from Python as a notebook would."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from examol_core.colmena import (
    ChunkOutcome,
    ScoreWriter,
    SmilesFile,
    load_training_set,
    read_smiles,
    score_smiles_file,
    train_model_file,
    write_scores,
)
from examol_core.errors import ExamolError, InvalidLabelsError
from examol_core.modelfile import load_model_file
from examol_core.records import MoleculeRecord, write_records
from examol_core.testing import REFERENCE_SMILES, make_reference_records

TOP = 'oxidation_potential/high-adiabatic'


def _rows(path: Path) -> list[list[str]]:
    with open(path, newline='') as fp:
        return list(csv.reader(fp))[1:]


def test_read_smiles_numbers_lines_and_counts_as_it_reads(tmp_path):
    path = tmp_path / 'space.smi'
    path.write_text('# header\nCCO ethanol\n\n  c1ccccc1  \n# note\nCC\n')
    source = SmilesFile(path)
    assert source.estimated_total() is None
    assert list(source) == [(2, 'CCO'), (4, 'c1ccccc1'), (6, 'CC')]
    assert source.exhausted and source.estimated_total() == 3 and source.bytes_read == source.size
    assert list(read_smiles(path)) == [(2, 'CCO'), (4, 'c1ccccc1'), (6, 'CC')]
    (tmp_path / 'bad.smi').write_bytes(b'CCO\n\xff\xfe\n')
    with pytest.raises(ExamolError, match='line 2: not UTF-8'):
        list(read_smiles(tmp_path / 'bad.smi'))
    with pytest.raises(FileNotFoundError, match='does not exist'):
        SmilesFile(tmp_path / 'none.smi')


def test_each_chunk_is_on_disk_before_the_next_is_awaited(tmp_path):
    """Streaming: a chunk is written (and flushed) as soon as it is handed over, in order."""
    part = tmp_path / '.out.csv.part'
    seen = []

    def chunks():
        for index in range(3):
            lines = [10 * index + 1, 10 * index + 2]
            yield ChunkOutcome(index=index, start=2 * index, smiles=['C', 'CC'], lines=lines,
                               mean=np.array([index, index + .5]), rejects=[(1, 'bad')] if index == 1 else [])
            seen.append([row[0] for row in _rows(part)])  # the generator resumes: the chunk is on disk

    with ScoreWriter(tmp_path / 'out.csv', ensemble=False) as writer:
        summary = write_scores(chunks(), writer)
        writer.commit()
    assert seen == [['1', '2'], ['1', '2', '11'], ['1', '2', '11', '21', '22']]
    assert (summary.scored, summary.rejected, summary.failed) == (5, 1, 0) and summary.ok
    assert _rows(tmp_path / 'out.rejects.csv') == [['12', 'CC', 'bad']]
    assert not part.exists()


def test_a_writer_left_without_commit_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with ScoreWriter(tmp_path / 'out.csv', ensemble=True):
            raise RuntimeError('interrupted')
    assert list(tmp_path.iterdir()) == []


def test_train_and_score_files_from_python(tmp_path, savetoy):
    records = make_reference_records(missing_top=(2,))
    write_records(records, tmp_path / 'records.jsonl')
    stages = []
    summary = train_model_file(tmp_path / 'records.jsonl', TOP, tmp_path / 'model.zip', scorer_name='savetoy',
                               model_name='lookup', ensemble=2, seed=3, local=True,
                               progress=lambda stage, message: stages.append(stage))
    assert stages == ['loaded', 'starting', 'training', 'saved']
    assert len(summary.training.records) == 17 and summary.manifest.ensemble.size == 2

    smiles = [*REFERENCE_SMILES[:7], 'C1CC', *REFERENCE_SMILES[7:]]
    (tmp_path / 'space.smi').write_text('\n'.join(smiles) + '\n')
    progress = []
    scored = score_smiles_file(tmp_path / 'model.zip', tmp_path / 'space.smi', tmp_path / 'out.csv', chunk_size=4,
                               local=True, workers=2, progress=progress.append)
    assert (scored.scored, scored.rejected, scored.ok) == (18, 1, True)
    assert [p.done for p in progress] == [4, 8, 12, 16, 19] and progress[-1].total == 19
    rows = _rows(tmp_path / 'out.csv')
    assert [int(r[0]) for r in rows] == [n for n in range(1, 20) if n != 8]
    saved = load_model_file(tmp_path / 'model.zip')
    inputs = saved.scorer.transform_inputs([MoleculeRecord.from_identifier(r[1]) for r in rows])
    members = [saved.scorer.score(saved.scorer.prepare_message(m), inputs) for m in saved.members]
    np.testing.assert_allclose([float(r[2]) for r in rows], np.mean(members, axis=0))
    np.testing.assert_allclose([float(r[3]) for r in rows], np.std(members, axis=0))


def test_training_set_selection(tmp_path):
    records = make_reference_records(missing_top=(2, 5))
    assert len(load_training_set(records, TOP).records) == 16
    assert len(load_training_set(records, TOP, ['oxidation_potential/low-vertical']).records) == 18
    with pytest.raises(InvalidLabelsError, match='no record has oxidation_potential/x-vertical; properties found'):
        load_training_set(records, 'oxidation_potential/x-vertical')
    with pytest.raises(FileNotFoundError, match='records file'):
        load_training_set(tmp_path / 'none.jsonl', TOP)
