"""The saved-model format: manifest, ensembles, version and plugin checks, safe loading."""
from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from examol_core import plugins
from examol_core.errors import ExamolError, IncompatibleVersionError, UnknownPluginError
from examol_core.modelfile import FORMAT_VERSION, load_model_file, read_manifest, save_model_file
from examol_core.testing import FIDELITIES, make_reference_records


def _trained(module, records, seed=None):
    scorer = module.SaveableLookupScorer()
    model = module.LookupModel()
    inputs = scorer.transform_inputs(records)
    outputs = scorer.transform_outputs(records, FIDELITIES[-1])
    if seed is not None:
        outputs = outputs + np.random.default_rng(seed).normal(size=len(outputs))
    model = scorer.update(model, scorer.retrain(scorer.prepare_message(model, training=True), inputs, outputs))
    return scorer, model, inputs


def _rewrite_manifest(path: Path, **changes) -> None:
    with zipfile.ZipFile(path) as zf:
        files = {name: zf.read(name) for name in zf.namelist()}
    manifest = json.loads(files['manifest.json'])
    manifest.update(changes)
    files['manifest.json'] = json.dumps(manifest).encode()
    with zipfile.ZipFile(path, 'w') as zf:
        for name, data in files.items():
            zf.writestr(name, data)


def test_round_trip_single_model(savetoy, tmp_path):
    records = make_reference_records()
    scorer, model, inputs = _trained(savetoy, records)
    path = tmp_path / 'model.zip'
    manifest = save_model_file(path, model, scorer_name='savetoy', model_name='lookup', recipe=FIDELITIES[-1],
                               lower_recipes=FIDELITIES[:-1], training={'records': len(records)})
    assert zipfile.is_zipfile(path)
    assert manifest.format_version == FORMAT_VERSION
    assert read_manifest(path) == manifest
    saved = load_model_file(path)
    assert not saved.is_ensemble and saved.scorer_name == 'savetoy'
    assert isinstance(saved.scorer, savetoy.SaveableLookupScorer)
    assert saved.recipe == FIDELITIES[-1] and saved.lower_recipes == list(FIDELITIES[:-1])
    assert saved.manifest.recipe == 'oxidation_potential/high-adiabatic'
    expected = scorer.score(scorer.prepare_message(model), inputs)
    np.testing.assert_array_equal(saved.scorer.score(saved.scorer.prepare_message(saved.model), inputs), expected)
    raw = json.loads(zipfile.ZipFile(path).read('manifest.json'))
    assert {'format', 'format_version', 'examol_core_version', 'created', 'scorer', 'plugin', 'model', 'recipe',
            'lower_recipes', 'ensemble', 'training'} <= set(raw)
    assert raw['ensemble'] == {'size': 1, 'bootstrap': False, 'members': ['members/0']}
    assert raw['model'] == {'name': 'lookup', 'options': {}}


def test_ensemble_as_directory_keeps_members_and_options(savetoy, tmp_path):
    records = make_reference_records()
    members = [_trained(savetoy, records, seed)[1] for seed in range(3)]
    path = tmp_path / 'ensemble'
    save_model_file(path, members, scorer_name='savetoy', scorer_options={'delay': 0.0}, bootstrap=True,
                    as_directory=True)
    assert (path / 'manifest.json').is_file() and sorted(os.listdir(path / 'members')) == ['0', '1', '2']
    saved = load_model_file(path)
    assert saved.is_ensemble and len(saved.members) == 3 and saved.manifest.ensemble.bootstrap
    assert saved.scorer.delay == 0.0
    for original, loaded in zip(members, saved.members, strict=True):
        assert loaded.tables == original.tables


def test_newer_format_is_refused_with_advice(savetoy, tmp_path):
    _, model, _ = _trained(savetoy, make_reference_records())
    path = tmp_path / 'model.zip'
    save_model_file(path, model, scorer_name='savetoy')
    _rewrite_manifest(path, format_version=FORMAT_VERSION + 1, examol_core_version='9.0.0')
    with pytest.raises(IncompatibleVersionError, match=r'format version 2 .*examol-core 9.0.0.*Upgrade examol-core'):
        load_model_file(path)


def test_missing_plugin_is_named(savetoy, tmp_path):
    _, model, _ = _trained(savetoy, make_reference_records())
    path = tmp_path / 'model.zip'
    save_model_file(path, model, scorer_name='savetoy')
    _rewrite_manifest(path, scorer={'name': 'quantum', 'options': {}},
                      plugin={'distribution': 'examol-quantum', 'version': '2.1.0'})
    with pytest.raises(UnknownPluginError, match=r"scorer 'quantum' from examol-quantum 2.1.0, which is not installed.*"
                                                 r"Install the plugin that provides scorer 'quantum'") as info:
        load_model_file(path)
    assert 'pip' not in str(info.value), 'no command is built from the contents of a file'
    assert read_manifest(path).scorer.name == 'quantum', 'the manifest is still readable without the plugin'


def test_plugin_version_change_warns(savetoy, tmp_path):
    _, model, _ = _trained(savetoy, make_reference_records())
    path = tmp_path / 'model.zip'
    save_model_file(path, model, scorer_name='savetoy')
    _rewrite_manifest(path, plugin={'distribution': 'examol-savetoy', 'version': '0.9.0'})
    with pytest.warns(UserWarning, match='saved with examol-savetoy 0.9.0'):
        load_model_file(path)


@pytest.mark.parametrize('kind', ['text', 'zip-without-manifest', 'other-format', 'bad-json'])
def test_not_a_model_file(tmp_path, kind):
    path = tmp_path / 'thing.zip'
    if kind == 'text':
        path.write_text('hello')
    else:
        with zipfile.ZipFile(path, 'w') as zf:
            if kind == 'other-format':
                zf.writestr('manifest.json', json.dumps({'format': 'something-else', 'format_version': 1}))
            elif kind == 'bad-json':
                zf.writestr('manifest.json', '{not json')
            else:
                zf.writestr('weights.bin', b'\0')
    with pytest.raises(IncompatibleVersionError, match='not an examol model|not valid JSON'):
        load_model_file(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='No model file'):
        load_model_file(tmp_path / 'nope.zip')


def test_scorer_without_persistence_says_so(toy_module, tmp_path):
    pm = plugins.get_plugin_manager()
    registered = not pm.has_plugin('toy')
    if registered:
        pm.register(toy_module, name='toy')
    try:
        with pytest.raises(ExamolError, match='LookupScorer cannot save models'):
            save_model_file(tmp_path / 'model.zip', toy_module.LookupModel(), scorer_name='toy')
        assert not (tmp_path / 'model.zip').exists(), 'no partial file is left behind'
        assert [p.name for p in tmp_path.iterdir()] == []
    finally:
        if registered:
            pm.unregister(name='toy')


def test_archive_escaping_its_folder_is_refused(savetoy, tmp_path):
    _, model, _ = _trained(savetoy, make_reference_records())
    path = tmp_path / 'model.zip'
    save_model_file(path, model, scorer_name='savetoy')
    with zipfile.ZipFile(path, 'a') as zf:
        zf.writestr('../../evil.txt', 'gotcha')
    with pytest.raises(IncompatibleVersionError, match='outside the archive'):
        load_model_file(path)
    assert not (tmp_path.parent / 'evil.txt').exists()


def test_damaged_payload_names_the_member(savetoy, tmp_path):
    _, model, _ = _trained(savetoy, make_reference_records())
    path = tmp_path / 'model'
    save_model_file(path, [model, model], scorer_name='savetoy', as_directory=True)
    (path / 'members' / '1' / 'tables.json').write_text('[[')
    with pytest.raises(IncompatibleVersionError, match='could not read member 1'):
        load_model_file(path)


def test_options_must_be_json(savetoy, tmp_path):
    _, model, _ = _trained(savetoy, make_reference_records())
    with pytest.raises(ExamolError, match='model_options must be JSON'):
        save_model_file(tmp_path / 'm.zip', model, scorer_name='savetoy', model_options={'f': object()})
