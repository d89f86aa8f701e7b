"""Graph dictionaries and padded batches (no TensorFlow needed)."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
from examol_nfp.data import (
    BOND_TYPES,
    InvalidGraphError,
    PackedGraphs,
    UnsupportedMoleculeError,
    bucketed_batches,
    size_sorted_order,
    smiles_to_graph,
    to_graphs,
)

from examol_core import MoleculeRecord
from examol_core.errors import InvalidIdentifierError


def test_graph_of_ethanol():
    graph = smiles_to_graph('CCO')
    assert sorted(graph) == ['atom', 'bond', 'connectivity']
    assert sorted(graph['atom'].tolist()) == [1] * 6 + [6, 6, 8]  # hydrogens are explicit
    assert graph['connectivity'].shape == (16, 2)  # 8 bonds, both directions
    assert len(graph['bond']) == 16 and set(graph['bond'].tolist()) == {BOND_TYPES['SINGLE']}
    assert all(a.dtype == np.int32 for a in graph.values())
    conn = graph['connectivity']
    assert np.array_equal(conn, conn[np.lexsort((conn[:, 1], conn[:, 0]))]), 'sorted by source, then target'
    pairs = {tuple(p) for p in conn.tolist()}
    assert all((b, a) in pairs for a, b in pairs), 'every bond appears in both directions'


def test_bond_types():
    assert set(smiles_to_graph('c1ccccc1')['bond'].tolist()) == {BOND_TYPES['AROMATIC'], BOND_TYPES['SINGLE']}
    assert BOND_TYPES['TRIPLE'] in smiles_to_graph('CC#N')['bond']
    assert BOND_TYPES['DOUBLE'] in smiles_to_graph('CC(=O)C')['bond']


def test_inchi_and_records_give_the_same_graph():
    record = MoleculeRecord.from_identifier('CCO')
    from_record, from_inchi = to_graphs([record, record.identifier.inchi])
    for key in from_record:
        assert np.array_equal(from_record[key], from_inchi[key])


def test_unparsable_identifier_names_molecule_and_position():
    with pytest.raises(InvalidIdentifierError, match=r"'C1CC' at position 2") as info:
        to_graphs(['C', 'CC', 'C1CC'])
    assert info.value.position == 2


@pytest.mark.parametrize('smiles', ['[Na+].[Cl-]', '[He]', 'CCO.[Na+]'])
def test_unbonded_atoms_are_rejected_by_name(smiles):
    with pytest.raises(UnsupportedMoleculeError, match=r'at position 1 has .* without any bond') as info:
        to_graphs(['CC', smiles])
    assert isinstance(info.value, ValueError)
    assert smiles in str(info.value)


def test_unknown_input_type():
    with pytest.raises(InvalidGraphError, match='position 0 is a int'):
        to_graphs([1])


def test_batch_layout(graphs):
    packed = PackedGraphs.from_graphs(graphs)
    indices = np.array([5, 0, 7])
    batch = packed.batch(indices)
    n_atoms = packed.n_atoms[indices]
    n_bonds = packed.n_bonds[indices]
    assert n_atoms[2] == n_atoms.max() and n_bonds[2] < n_bonds.max(), 'the widest molecule has padding bonds'
    width = n_atoms.max() + 1
    assert batch['atom'].shape == (3, width), 'one padding atom beyond the largest molecule'
    assert batch['bond'].shape == (3, n_bonds.max())
    assert batch['connectivity'].shape == (3, n_bonds.max(), 2)
    for row, i in enumerate(indices):
        graph = graphs[i]
        assert np.array_equal(batch['atom'][row, :n_atoms[row]], graph['atom'])
        assert (batch['atom'][row, n_atoms[row]:] == 0).all()
        assert np.array_equal(batch['bond'][row, :n_bonds[row]], graph['bond'])
        assert (batch['bond'][row, n_bonds[row]:] == 0).all()
        assert np.array_equal(batch['connectivity'][row, :n_bonds[row]], graph['connectivity'])
        assert (batch['connectivity'][row, n_bonds[row]:] == width - 1).all(), 'padding bonds stay in padding'


def test_no_extra_padding_atom_when_the_widest_molecule_has_the_most_bonds(graphs):
    packed = PackedGraphs.from_graphs(graphs)
    order = np.lexsort((packed.n_bonds, packed.n_atoms))
    indices = order[-3:]
    n_atoms, n_bonds = packed.n_atoms[indices], packed.n_bonds[indices]
    assert n_bonds[n_atoms == n_atoms.max()].min() == n_bonds.max()
    batch = packed.batch(indices)
    assert batch['atom'].shape == (3, n_atoms.max()), 'every padding bond already lands on padding'
    for row in range(3):
        assert (batch['connectivity'][row, n_bonds[row]:] >= n_atoms[row]).all()


def test_subset_and_pickle(graphs):
    packed = PackedGraphs.from_graphs(graphs)
    sub = packed.subset(np.array([4, 2]))
    assert np.array_equal(sub.batch(np.arange(2))['atom'], packed.batch(np.array([4, 2]))['atom'])
    assert pickle.loads(pickle.dumps(packed)).n_atoms.tolist() == packed.n_atoms.tolist()


@pytest.mark.parametrize('change, message', [
    (lambda g: g.pop('bond'), 'not a graph dictionary'),
    (lambda g: g.update(atom=np.zeros(3, np.int32)), 'atom types outside'),
    (lambda g: g.update(bond=np.full_like(g['bond'], 9)), 'bond types outside'),
    (lambda g: g.update(connectivity=g['connectivity'] + 100), 'connectivity pointing outside'),
    (lambda g: g.update(bond=g['bond'][:-1]), 'inconsistent shapes'),
])
def test_bad_graphs_are_named(graphs, change, message):
    bad = [dict(g) for g in graphs[:4]]
    change(bad[2])
    with pytest.raises(InvalidGraphError, match=f'position 12 .*{message}|position 12 has {message}'):
        PackedGraphs.from_graphs(bad, start=10)


def test_bucketed_batches_cover_every_molecule_once():
    rng = np.random.default_rng(0)
    n_atoms = rng.integers(3, 30, size=1000)
    batches = bucketed_batches(n_atoms, 32, rng)
    assert sorted(np.concatenate(batches).tolist()) == list(range(1000))
    assert max(len(b) for b in batches) == 32
    # Batches hold similar sizes: far less spread than random batches
    spread = np.mean([np.ptp(n_atoms[b]) for b in batches])
    assert spread < 0.5 * np.mean([np.ptp(n_atoms[b]) for b in np.array_split(rng.permutation(1000), 32)])


def test_size_sorted_order():
    order = size_sorted_order(np.array([5, 3, 5, 1]), np.array([8, 4, 6, 0]))
    assert order.tolist() == [3, 1, 2, 0]
