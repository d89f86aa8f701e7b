"""Shared fixtures: a few real molecules and tiny networks, so the suite stays fast on 2 CPU cores."""
from __future__ import annotations

import examol_nfp  # noqa: F401  (first: sets TF_USE_LEGACY_KERAS before anything imports TensorFlow)
import numpy as np
import pytest

from examol_core.testing import REFERENCE_SMILES

SMILES = (*REFERENCE_SMILES, 'CC1=C(CCC1)C1CN1', 'COC12CCC1C1CC21', 'OC1CC2CC12', 'O=C1NC=CC(=O)N1',
          'CN1C=NC2=C1C(=O)N(C)C(=O)N2C', 'FC(F)(F)c1ccc(cc1)C#N')
"""Varied sizes (1 to 24 atoms with hydrogens), rings, aromatics, triple bonds."""

TINY = {'atom_features': 8, 'message_steps': 2, 'output_layers': (8,)}
"""Options of make_simple_network for tests: a tiny network that still has every kind of layer."""

FAST = {'num_epochs': 2, 'batch_size': 8, 'patience': None}
"""retrain options for tests."""


def make_tiny_network(outputs: int = 1, **options):
    from examol_nfp.model import make_simple_network

    return make_simple_network(**{**TINY, 'outputs': outputs, **options})


# Test modules get these through fixtures: with --import-mode=importlib (as nox runs pytest),
# conftest is not importable as a module
@pytest.fixture(scope='session')
def tiny():
    """``tiny(outputs=1, **options)`` builds a tiny network."""
    return make_tiny_network


@pytest.fixture(scope='session')
def fast() -> dict:
    """Keyword arguments for a short retrain."""
    return dict(FAST)


@pytest.fixture(scope='session')
def smiles() -> tuple[str, ...]:
    return SMILES


@pytest.fixture(scope='session')
def graphs(smiles):
    from examol_nfp.data import smiles_to_graph

    return [smiles_to_graph(s) for s in smiles]


@pytest.fixture(scope='session')
def labels(graphs) -> np.ndarray:
    """A learnable label: heavy atoms plus a little per-molecule structure."""
    return np.array([float((g['atom'] > 1).sum()) + 0.1 * len(g['bond']) for g in graphs])
