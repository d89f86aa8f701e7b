"""Sanity checks on the committed multi-fidelity data set (examol_core/data)."""
from pathlib import Path

import examol_core
import numpy as np
import pytest
from examol_core.records import read_records

DATA = Path(examol_core.__file__).parent / 'data'
RECORDS = DATA / 'redoxmers-oxidation.jsonl.gz'
LEVELS = ('gfn1-vertical', 'gfn2-vertical', 'gfn2-adiabatic')


@pytest.fixture(scope='module')
def values() -> np.ndarray:
    if not RECORDS.exists():
        pytest.skip(f'{RECORDS} is not installed with this examol-core')
    records = list(read_records(RECORDS))
    assert len({r.key for r in records}) == len(records)
    ox = [r.properties.get('oxidation_potential', {}) for r in records]
    return np.array([[o.get(level, np.nan) for level in LEVELS] for o in ox])


def test_most_molecules_have_all_levels(values):
    n_smiles = sum(1 for line in (DATA / 'search-space.smi').read_text().splitlines() if line.strip())
    complete = np.isfinite(values).all(axis=1).sum()
    assert complete >= 0.95 * n_smiles


def test_gfn1_and_gfn2_correlate(values):
    ok = np.isfinite(values[:, :2]).all(axis=1)
    gfn1, gfn2 = values[ok, 0], values[ok, 1]
    assert np.corrcoef(gfn1, gfn2)[0, 1] > 0.9
    assert -1.5 < np.mean(gfn2 - gfn1) < -0.5  # GFN2 ionisation energies are about 1 eV below GFN1's


def test_vertical_at_least_adiabatic(values):
    ok = np.isfinite(values[:, 1:]).all(axis=1)
    # relaxing the cation can only lower its energy; allow optimiser noise
    assert np.all(values[ok, 1] >= values[ok, 2] - 0.05)
