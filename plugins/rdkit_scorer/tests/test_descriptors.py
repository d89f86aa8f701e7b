"""The GPR's descriptors: computed once per molecule where columns share work, equal to RDKit's own functions."""
from __future__ import annotations

import multiprocessing
from importlib import resources

import numpy as np
from examol_rdkit.descriptors import DESCRIPTOR_NAMES, doan_2020_descriptors, reference_descriptors
from examol_rdkit.features import FingerprintTransformer
from rdkit import Chem, rdBase
from rdkit.Chem import Descriptors

from examol_core import read_records

#: Molecules unlike the search space: ions, radicals, salts, isolated atoms, P, S, Se, metals, explicit hydrogens.
EXOTIC = ['[Na+].[Cl-]', 'C[CH2]', '[CH]', '[Fe]', 'OP(=O)(O)O', 'COP(=O)(OC)OC', 'CS', 'CSC', 'C1CC1.[Se]', '[H][H]',
          '[H]', 'C=[N+]=[N-]', 'CN=C=S', 'c1ccccc1[As](C)C', '[U]', 'F[Xe]F', 'C[N+](C)(C)C', 'O=[N+]([O-])c1ccccc1O',
          'N#Cc1ccncc1', 'C1=CC=CN1', 'c1ccsc1', 'NC(=O)NC(N)=O', '[2H]C([2H])([2H])O', '[O-][Cl+3]([O-])([O-])[O-]']


def _shipped_smiles() -> list[str]:
    """The search space shipped with the core and the molecules of the shipped redox data set."""
    data = resources.files('examol_core') / 'data'
    space = [line.split()[0] for line in (data / 'search-space.smi').read_text().splitlines() if line.strip()]
    redox = [record.identifier.smiles for record in read_records(data / 'redoxmers-oxidation.jsonl.gz')]
    return space + redox


def _value(function, mol: Chem.Mol) -> float:
    try:
        return function(Chem.Mol(mol))
    except (ValueError, RuntimeError, ZeroDivisionError):
        return np.nan


def test_every_column_equals_rdkits_function():
    """Column by column against ``Descriptors.descList``, on every shipped molecule and some exotic ones."""
    with rdBase.BlockLogs():
        mols = [Chem.MolFromSmiles(s) for s in _shipped_smiles() + EXOTIC]
        table = dict(Descriptors.descList)
        expected = np.array([[_value(table[name], mol) for name in DESCRIPTOR_NAMES] for mol in mols[-40:]])
    assert len(mols) > 2000
    ours = doan_2020_descriptors(mols)
    reference = reference_descriptors(mols)
    assert np.isfinite(ours).all()
    for j, name in enumerate(DESCRIPTOR_NAMES):
        np.testing.assert_array_equal(ours[:, j], reference[:, j], err_msg=name)
    # the reference is RDKit's functions, one per column (values RDKit fails on are zeros in both)
    last = reference[-40:]
    assert np.array_equal(last, np.where(np.isfinite(expected), expected, 0.))
    fragments = [j for j, name in enumerate(DESCRIPTOR_NAMES) if name.startswith('fr_')]
    assert (ours[:, fragments] > 1).any()  # counts, not merely presence


def _in_daemon(smiles: list[str], queue) -> None:
    try:
        queue.put(FingerprintTransformer('descriptors', n_jobs=2).transform(smiles))
    except BaseException as exc:  # noqa: BLE001 - reported to the test
        queue.put(f'{type(exc).__name__}: {exc}')


def test_parallel_featuriser_works_in_a_daemonic_process(smiles):
    """A daemonic process (such as a worker of a ``multiprocessing.Pool``) may not start processes: featurise alone."""
    data = (smiles * 10)[:530]  # enough molecules to be spread over 2 workers
    context = multiprocessing.get_context('fork')
    queue = context.Queue()
    process = context.Process(target=_in_daemon, args=(data, queue), daemon=True)
    process.start()
    try:
        out = queue.get(timeout=120)
    finally:
        process.join(timeout=30)
    assert not isinstance(out, str), out
    assert process.exitcode == 0
    assert np.array_equal(out, doan_2020_descriptors([Chem.MolFromSmiles(s) for s in data]))


def test_spread_over_workers_keeps_order(smiles):
    data = [f'{s}.C' * (i % 2) or s for i, s in enumerate((smiles * 20)[:700])]  # distinct rows in a known order
    expected = doan_2020_descriptors([Chem.MolFromSmiles(s) for s in data])
    assert np.array_equal(FingerprintTransformer('descriptors', n_jobs=2).transform(data), expected)
