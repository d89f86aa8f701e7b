import gzip
import json

import pytest

from examol_core import InvalidIdentifierError, MoleculeRecord, read_records, write_records
from examol_core.records import Conformer, EnergyEvaluation


def test_from_smiles_and_inchi_agree():
    by_smiles = MoleculeRecord.from_identifier('OCC')
    by_inchi = MoleculeRecord.from_identifier('InChI=1S/C2H6O/c1-2-3/h3H,2H2,1H3')
    assert by_smiles.key == by_inchi.key == 'LFQSCWFLJHTTHZ-UHFFFAOYSA-N'
    assert by_smiles.identifier.smiles == 'CCO'
    assert by_smiles.identifier.inchi.startswith('InChI=1S/C2H6O')


@pytest.mark.parametrize('bad', ['C1CC', 'not a molecule', 'InChI=1S/garbage', ''])
def test_unparsable_identifier_names_the_string(bad):
    with pytest.raises(InvalidIdentifierError) as info:
        MoleculeRecord.from_identifier(bad)
    assert isinstance(info.value, ValueError)
    assert repr(bad) in str(info.value)


def test_conformer_energies_and_lowest():
    record = MoleculeRecord.from_identifier('CCO')
    for shift, energy in ((0., -10.), (0.1, -10.5)):
        xyz = f'1\n\nO {shift} 0 0\n'
        record.add_conformer(Conformer(xyz=xyz, source='relaxation', config_name='gfn2', charge=0,
                                       energies=[EnergyEvaluation(energy=energy, config_name='gfn2', charge=0)]))
    conf, energy = record.find_lowest_conformer('gfn2', 0)
    assert energy == -10.5 and conf.xyz.startswith('1\n\nO 0.1')
    # Same geometry up to formatting merges instead of duplicating
    merged = record.add_conformer(Conformer(xyz='1\n\nO 0.10000 0.0 0.0\n', energies=[
        EnergyEvaluation(energy=1.0, config_name='gfn2', charge=1)]))
    assert len(record.conformers) == 2 and merged.get_energy('gfn2', 1) == 1.0
    with pytest.raises(ValueError, match="config_name='gfn1'"):
        record.find_lowest_conformer('gfn1', 0)


@pytest.mark.parametrize('suffix', ['.jsonl', '.jsonl.gz'])
def test_json_lines_round_trip(tmp_path, suffix):
    records = [MoleculeRecord.from_identifier(s) for s in ('CCO', 'c1ccccc1', 'CC(=O)O')]
    records[0].properties['oxidation_potential'] = {'gfn2-adiabatic': 7.5}
    path = tmp_path / f'records{suffix}'
    assert write_records(records, path) == 3
    loaded = list(read_records(path))
    assert [r.model_dump() for r in loaded] == [r.model_dump() for r in records]
    if suffix.endswith('.gz'):
        with gzip.open(path, 'rt') as fp:
            assert json.loads(fp.readline())['key'] == records[0].key


def test_write_is_atomic(tmp_path):
    path = tmp_path / 'records.jsonl'
    write_records([MoleculeRecord.from_identifier('C')], path)
    before = path.read_bytes()

    def failing():
        yield MoleculeRecord.from_identifier('CC')
        raise RuntimeError('crash mid-write')

    with pytest.raises(RuntimeError):
        write_records(failing(), path)
    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path], 'no temporary file is left behind'


def test_reading_a_bad_line_names_it(tmp_path):
    path = tmp_path / 'bad.jsonl'
    path.write_text(MoleculeRecord.from_identifier('C').model_dump_json() + '\n{"key": 1}\n')
    with pytest.raises(ValueError, match=r'bad.jsonl:2'):
        list(read_records(path))


def test_written_file_has_ordinary_permissions(tmp_path):
    import os
    path = tmp_path / 'records.jsonl'
    write_records([MoleculeRecord.from_identifier('C')], path)
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_identifier_error_survives_pickling():
    """Errors raised on a worker come back pickled and must read the same."""
    import pickle
    error = InvalidIdentifierError('C1CC', position=3)
    again = pickle.loads(pickle.dumps(error))
    assert str(again) == str(error) == "Molecule 'C1CC' at position 3 could not be parsed"
    assert (again.identifier, again.position) == ('C1CC', 3)
