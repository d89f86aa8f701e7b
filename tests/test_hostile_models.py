"""Model files from someone else: no path leaves the model, unpacking is bounded, names are checked.

Each test builds a model file as an attacker (or a damaged disk) would and checks that loading
fails with one clear error naming the model file, before anything is used or written.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from examol_core.archive import ArchiveLimitError, ExtractionLimits, check_archive
from examol_core.errors import IncompatibleVersionError, UnknownPluginError
from examol_core.modelfile import load_model_file, read_manifest, save_model_file
from examol_core.testing import FIDELITIES, make_reference_records


def _model(savetoy, offset=0.):
    records = make_reference_records()
    scorer, model = savetoy.SaveableLookupScorer(), savetoy.LookupModel()
    outputs = scorer.transform_outputs(records, FIDELITIES[-1]) + offset
    inputs = scorer.transform_inputs(records)
    return scorer.update(model, scorer.retrain(scorer.prepare_message(model, training=True), inputs, outputs)), inputs


def _entries(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _write(path: Path, entries: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> None:
    with zipfile.ZipFile(path, 'w', compression=compression) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)


def _edit_manifest(path: Path, **changes) -> None:
    entries = _entries(path)
    manifest = json.loads(entries['manifest.json'])
    for key, value in changes.items():
        target = manifest
        *parents, last = key.split('.')
        for parent in parents:
            target = target[parent]
        target[last] = value
    entries['manifest.json'] = json.dumps(manifest).encode()
    _write(path, entries)


@pytest.fixture
def saved(savetoy, tmp_path):
    """A model file, and another model (different scores) saved as a folder elsewhere on disk."""
    model, inputs = _model(savetoy)
    path = tmp_path / 'model.zip'
    save_model_file(path, model, scorer_name='savetoy')
    other, _ = _model(savetoy, offset=100.)
    save_model_file(tmp_path / 'elsewhere', other, scorer_name='savetoy', as_directory=True)
    return path, inputs


@pytest.mark.parametrize('member', ['../elsewhere/members/0', '/abs/members/0', 'members/../../elsewhere/members/0',
                                    'members\\0', 'members/./0', ''])
def test_member_paths_from_the_manifest_stay_inside(saved, member):
    path, _ = saved
    _edit_manifest(path, **{'ensemble.members': [member]})
    with pytest.raises(IncompatibleVersionError, match=r'model.zip: manifest.json .*ensemble.members.0 is not a '
                                                       r'relative path inside the model file'):
        load_model_file(path)


def test_a_linked_member_folder_is_refused(saved, savetoy, tmp_path):
    folder = tmp_path / 'linked'
    save_model_file(folder, _model(savetoy)[0], scorer_name='savetoy', as_directory=True)
    target = folder / 'members' / '0'
    for file in target.iterdir():
        file.unlink()
    target.rmdir()
    target.symlink_to(tmp_path / 'elsewhere' / 'members' / '0')
    with pytest.raises(IncompatibleVersionError, match=r'linked: ensemble member 0 \(members/0\) points outside'):
        load_model_file(folder)
    (folder / 'members' / '0').unlink()
    (folder / 'members' / '0').mkdir()
    (folder / 'members' / '0' / 'tables.json').symlink_to(tmp_path / 'elsewhere' / 'members' / '0' / 'tables.json')
    with pytest.raises(IncompatibleVersionError, match=r'members/0/tables.json links outside the model'):
        load_model_file(folder)


def test_decompression_bomb_is_refused_before_unpacking(saved):
    path, _ = saved
    entries = _entries(path)
    entries['members/0/padding.bin'] = bytes(64 << 20)  # 64 MB of zeros pack into about 64 KB
    _write(path, entries)
    assert path.stat().st_size < 1 << 20
    with zipfile.ZipFile(path) as zf, pytest.raises(ArchiveLimitError, match=r"'members/0/padding.bin' would unpack "
                                                                              r'.* into 64.0 MB \(\d+ times\)'):
        check_archive(zf, path, ExtractionLimits())  # reads the archive's directory only: nothing is written
    with pytest.raises(ArchiveLimitError, match='model.zip.*refusing to unpack it'):
        load_model_file(path)


def test_total_size_and_count_are_bounded(saved):
    path, _ = saved
    with pytest.raises(ArchiveLimitError, match=r'model.zip would unpack to .*more than the 100 bytes allowed'):
        load_model_file(path, limits=ExtractionLimits(max_bytes=100))
    entries = _entries(path)
    entries.update({f'members/0/x{i}': b'' for i in range(50)})
    _write(path, entries)
    with pytest.raises(ArchiveLimitError, match=r'model.zip holds 5\d entries, more than the 20'):
        load_model_file(path, limits=ExtractionLimits(max_entries=20))


@pytest.mark.parametrize(('key', 'value', 'field'), [
    ('plugin.distribution', 'examol-x --index-url https://evil.example/simple', 'plugin.distribution'),
    ('scorer.name', 'savetoy\x1b[2J', 'scorer.name'),
    ('plugin.version', '1.0; rm -rf ~', 'plugin.version'),
    ('scorer.options', {'delay; import os': 0}, 'scorer.options'),
    ('recipe', 'oxidation_potential/x y', 'recipe'),
])
def test_names_from_the_manifest_are_checked_and_not_echoed(saved, key, value, field):
    path, _ = saved
    _edit_manifest(path, **{key: value})
    for load in (read_manifest, load_model_file):
        with pytest.raises(IncompatibleVersionError, match=f'model.zip: manifest.json is incomplete or malformed: '
                                                           f'{field}') as info:
            load(path)
        text = str(info.value)
        assert 'evil' not in text and '\x1b' not in text and 'rm -rf' not in text and 'import os' not in text


def test_missing_plugin_advice_holds_no_command(saved):
    path, _ = saved
    _edit_manifest(path, **{'scorer.name': 'quantum', 'plugin.distribution': 'examol-quantum'})
    with pytest.raises(UnknownPluginError) as info:
        load_model_file(path)
    assert 'examol-quantum' in str(info.value) and 'pip' not in str(info.value)


@pytest.mark.parametrize('damage', ['manifest-not-utf8', 'truncated', 'bad-crc'])
def test_damaged_archives_get_one_clear_error(saved, damage):
    path, _ = saved
    if damage == 'manifest-not-utf8':
        entries = _entries(path)
        entries['manifest.json'] = entries['manifest.json'].replace(b'"savetoy"', b'"savet\xf6y"')
        _write(path, entries)
        message = r'model.zip: manifest.json is not UTF-8 text'
    elif damage == 'truncated':
        data = path.read_bytes()
        path.write_bytes(data[:len(data) - 30])
        message = r'model.zip is not an examol model file|model.zip is a damaged zip archive'
    else:
        entries = _entries(path)
        _write(path, entries, compression=zipfile.ZIP_STORED)
        data = bytearray(path.read_bytes())
        start = data.index(b'members/0/tables.json') + len('members/0/tables.json')
        data[start + 2] ^= 0xff  # inside the stored payload: its CRC no longer matches
        path.write_bytes(bytes(data))
        message = r'model.zip is (a )?damaged.*(CRC|tables.json)'
    with pytest.raises(IncompatibleVersionError, match=message):
        load_model_file(path)


def test_payload_errors_name_the_model_file_not_the_temporary_folder(saved):
    path, _ = saved
    entries = _entries(path)
    entries['members/0/tables.json'] = b'[['
    _write(path, entries)
    with pytest.raises(IncompatibleVersionError, match=r'model.zip: .*could not read member 0 \(members/0\)') as info:
        load_model_file(path)
    assert 'examol-model-' not in str(info.value)


def test_intact_file_still_loads_and_scores(saved, savetoy):
    path, inputs = saved
    loaded = load_model_file(path)
    scores = loaded.scorer.score(loaded.scorer.prepare_message(loaded.model), inputs)
    assert np.isfinite(scores).all() and scores.max() < 50, 'the scores are this model\'s, not the other one\'s'


def test_model_info_shows_text_from_the_file_as_is(saved):
    from typer.testing import CliRunner

    from examol_core.cli import app

    path, _ = saved
    _edit_manifest(path, **{'training': {'note': '[link=https://evil.example]click[/link] [red]x[/red]'}})
    result = CliRunner().invoke(app, ['model-info', str(path)], catch_exceptions=False, env={'COLUMNS': '300'})
    assert result.exit_code == 0
    assert '[link=https://evil.example]click[/link] [red]x[/red]' in result.output, 'not read as Rich markup'
