"""Shared fixtures: a few real molecules and tiny networks, so the suite stays fast on 2 CPU cores."""
from __future__ import annotations

import numpy as np
import pytest

from examol_core.testing import REFERENCE_SMILES

SMILES = (*REFERENCE_SMILES, 'CC1=C(CCC1)C1CN1', 'COC12CCC1C1CC21', 'OC1CC2CC12', 'O=C1NC=CC(=O)N1',
          'CN1C=NC2=C1C(=O)N(C)C(=O)N2C', 'FC(F)(F)c1ccc(cc1)C#N')
"""Varied sizes (1 to 14 heavy atoms), rings, aromatics, triple bonds."""

TINY = {'hidden_size': 16, 'depth': 2, 'ffn_hidden_size': 16}
"""Options of make_mpnn for tests."""

FAST = {'num_epochs': 3, 'batch_size': 8, 'patience': None, 'seed': 0}
"""retrain options for tests."""


@pytest.fixture(scope='session')
def tiny():
    """``tiny(outputs=1, **options)`` builds a tiny untrained model."""
    from examol_chemprop import make_mpnn

    return lambda outputs=1, **options: make_mpnn(**{**TINY, 'outputs': outputs, **options})


@pytest.fixture(scope='session')
def fast() -> dict:
    """Keyword arguments for a short retrain."""
    return dict(FAST)


@pytest.fixture(scope='session')
def smiles() -> tuple[str, ...]:
    return SMILES


@pytest.fixture(scope='session')
def labels(smiles) -> np.ndarray:
    """A learnable label: heavy atoms plus a little per-molecule structure."""
    from rdkit import Chem

    mols = [Chem.MolFromSmiles(s) for s in smiles]
    return np.array([m.GetNumHeavyAtoms() + 0.1 * m.GetNumBonds() for m in mols])
