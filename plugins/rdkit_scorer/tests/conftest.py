"""Shared fixtures: real molecules from the redoxmers search space, with synthetic multi-fidelity labels."""
from __future__ import annotations

from pathlib import Path

import pytest
from threadpoolctl import threadpool_limits

from examol_core.testing import make_reference_records

DATA = Path(__file__).parent / 'data'


@pytest.fixture(scope='session', autouse=True)
def one_blas_thread():
    """Small matrices: BLAS threads only add contention on a shared machine."""
    with threadpool_limits(limits=1, user_api='blas'):
        yield


@pytest.fixture(scope='session')
def smiles() -> list[str]:
    """64 molecules of the redoxmers search space (tests/data/README.md)."""
    return [line.split()[0] for line in (DATA / 'redoxmers-sample.smi').read_text().splitlines() if line.strip()]


@pytest.fixture()
def records(smiles):
    """Records with values at the three levels of ``examol_core.testing.FIDELITIES`` (fresh for each test)."""
    return make_reference_records(smiles[:40])
