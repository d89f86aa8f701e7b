"""Featurisation: SMILES parsing, Morgan fingerprints, descriptors and the FingerprintTransformer step."""
from __future__ import annotations

import multiprocessing
import os
import pickle

import numpy as np
import pytest
from examol_rdkit import features
from examol_rdkit.features import (
    DESCRIPTOR_NAMES,
    FingerprintTransformer,
    doan_2020_descriptors,
    morgan_fingerprints,
    parse_smiles,
)
from examol_rdkit.knn import TanimotoKNNRegressor
from rdkit import Chem, DataStructs, rdBase
from rdkit.Chem import rdMolDescriptors
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from examol_core.errors import InvalidIdentifierError


def test_parse_names_bad_smiles_and_position():
    with pytest.raises(InvalidIdentifierError, match=r"'C1CC' at position 12 could not be parsed") as info:
        parse_smiles(['CC', 'C1CC'], offset=11)
    assert isinstance(info.value, ValueError)
    assert (info.value.identifier, info.value.position) == ('C1CC', 12)
    with pytest.raises(ValueError, match='position 1 is empty'):
        parse_smiles(['C', ' '])
    with pytest.raises(ValueError, match='position 0 is a NoneType, not a SMILES string'):
        parse_smiles([None])


def test_morgan_matches_the_per_molecule_api(smiles):
    """The generator API gives the bits of the deprecated GetMorganFingerprintAsBitVect (the benchmark's baseline)."""
    mols = parse_smiles(smiles)
    fps = morgan_fingerprints(mols, length=128, radius=3)
    assert fps.shape == (len(smiles), 128) and fps.dtype == np.uint8
    with rdBase.BlockLogs():
        for mol, row in zip(mols, fps, strict=True):
            expected = np.zeros(128)
            DataStructs.ConvertToNumpyArray(rdMolDescriptors.GetMorganFingerprintAsBitVect(mol, 3, nBits=128), expected)
            assert np.array_equal(row, expected)


# Molecules that exercise each part of RDKit's SMILES handling the fast Morgan parse could get wrong
TRICKY = [
    '[H]OC([H])([H])[H]', '[2H]C([2H])([2H])O', '[13CH4]', 'C[N+](C)(C)C', '[O-]C=O', 'CN(=O)=O', 'C[N+](=O)[O-]',
    'C1=CC=CC=C1', 'c1cc[nH]c1', 'O=c1cc[nH]cc1', 'C[C@H](N)O', 'F/C=C/F', '[CH3]', '[CH2]C', '[Na+].[Cl-]',
    'C[Si](C)(C)C', 'c1ccc2ccccc2c1', 'c1ccc2cccc2cc1', 'B(O)(O)c1ccccc1', 'CS(=O)(=O)C', '[NH4+]', 'C1CC2CCC1C2',
    'Cl[Pt](Cl)([NH3])[NH3]', 'N->[Pt](Cl)(Cl)<-N', 'c1cscn1', 'OC(=O)[C@@H]1CCCN1', 'C[S@@](=O)c1ccccc1', 'C=C=C',
    'OC1=CC=CC=C1', 'c1ccc(cc1)-c1ccccc1', '[H][H]', '[H+]', 'C.[H]Cl', 'CC(=O)[O-].[K+]',
]
INVALID = ['c1cccc1', 'n1ccccc1=O', 'C1CC', 'CN(C)(C)(C)C', 'X', 'C(', 'c1ccccc1)', '[Na+]([Cl-])([Cl-])([Cl-])([Cl-])([Cl-])']


def test_fast_morgan_parse_gives_rdkit_default_fingerprints(smiles):
    expected_valid = []
    with rdBase.BlockLogs():
        for smi in [*smiles, *TRICKY, *INVALID]:
            reference = Chem.MolFromSmiles(smi)
            fast = features._parse_for_morgan(smi)
            assert (fast is None) == (reference is None), smi
            if reference is not None:
                expected_valid.append(smi)
                assert np.array_equal(morgan_fingerprints([fast]), morgan_fingerprints([reference])), smi
    assert set(expected_valid) >= set(TRICKY) and not set(expected_valid) & set(INVALID)
    step = FingerprintTransformer()
    assert np.array_equal(step.transform(expected_valid), morgan_fingerprints(parse_smiles(expected_valid)))


def test_descriptors(smiles):
    values = doan_2020_descriptors(parse_smiles(['CCO', *smiles[:5]]))
    assert values.shape == (6, len(DESCRIPTOR_NAMES)) and np.isfinite(values).all()
    assert len(set(DESCRIPTOR_NAMES)) == len(DESCRIPTOR_NAMES) > 100
    ethanol = dict(zip(DESCRIPTOR_NAMES, values[0], strict=True))
    assert ethanol['MolWt'] == pytest.approx(46.069, abs=1e-3)
    assert (ethanol['HeavyAtomCount'], ethanol['NumHDonors'], ethanol['fr_Al_OH']) == (3, 1, 1)


def test_transformer_is_a_stateless_sklearn_step(smiles):
    step = FingerprintTransformer(length=64, radius=2)
    assert step.fit(smiles) is step
    assert clone(step).get_params() == step.get_params()
    copy = pickle.loads(pickle.dumps(step))
    assert np.array_equal(copy.transform(smiles), step.transform(smiles))
    assert np.array_equal(step.transform(smiles), morgan_fingerprints([Chem.MolFromSmiles(s) for s in smiles], 64, 2))
    pipe = Pipeline([('fp', step), ('knn', TanimotoKNNRegressor(n_neighbors=1))])
    y = np.arange(len(smiles), dtype=float)
    assert np.array_equal(clone(pipe).fit(smiles, y).predict(smiles), y)
    assert step.transform([]).shape == (0, 64)
    assert FingerprintTransformer('descriptors').transform(smiles[:3]).shape == (3, len(DESCRIPTOR_NAMES))


def test_transformer_accepts_a_feature_function(smiles):
    def heavy_atoms(mols):
        return np.array([[m.GetNumHeavyAtoms()] for m in mols])

    assert FingerprintTransformer(heavy_atoms).transform(['C', 'CCO']).tolist() == [[1], [3]]
    with pytest.raises(ValueError, match='Unknown feature function'):
        FingerprintTransformer('maccs').transform(['C'])


@pytest.mark.parametrize('n_jobs', [None, 2])
def test_transformer_chunks_and_reports_positions(smiles, monkeypatch, n_jobs):
    monkeypatch.setattr(features, 'CHUNK_SIZE', 7)
    step = FingerprintTransformer(n_jobs=n_jobs)
    assert np.array_equal(step.transform(smiles), morgan_fingerprints(parse_smiles(smiles)))
    data = list(smiles)
    data[30] = 'c1cccc1'  # unkekulisable
    before = list(data)
    with pytest.raises(InvalidIdentifierError, match=r"'c1cccc1' at position 30") as info:
        step.transform(data)
    assert info.value.position == 30
    assert data == before


def _featurise_in_child(smiles):
    features.CHUNK_SIZE = 7
    assert FingerprintTransformer(n_jobs=2).transform(smiles).shape == (len(smiles), 256)


def test_worker_pool_lets_a_child_process_exit(smiles):
    """Scoring inside a multiprocessing child (a Parsl worker, say) must not leave it hanging at exit."""
    process = multiprocessing.get_context('fork').Process(target=_featurise_in_child, args=(smiles[:20],))
    process.start()
    process.join(timeout=60)
    if process.is_alive():
        process.kill()
    assert process.exitcode == 0


def test_transformer_rejects_wrong_shapes():
    with pytest.raises(TypeError, match='not a single string'):
        FingerprintTransformer().transform('CCO')
    with pytest.raises(ValueError, match='drop this step'):
        FingerprintTransformer().transform(np.zeros((3, 256)))


@pytest.mark.skipif(not hasattr(os, 'sched_setaffinity') or len(os.sched_getaffinity(0)) < 2,
                    reason='needs CPU affinity and two cores')
def test_every_core_means_the_cores_this_process_may_use():
    """Under Slurm (or a pinned Parsl worker) a process may use fewer cores than the node has: n_jobs=-1 follows that."""
    before = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {min(before)})
        assert FingerprintTransformer('descriptors', n_jobs=-1)._workers() == 1
    finally:
        os.sched_setaffinity(0, before)
    assert FingerprintTransformer('descriptors', n_jobs=-1)._workers() == len(before)
