"""Molecular graphs as NumPy arrays, and the padded batches the network reads.

Nothing here imports TensorFlow: graphs are formed on the steering side (or on a worker before
inference) and travel as plain dictionaries of ``int32`` arrays.

A *graph dictionary* holds, for one molecule with hydrogens made explicit:

* ``atom``: ``(n_atoms,)`` atom types (the atomic number, 1–118; 0 is reserved for padding),
* ``bond``: ``(n_bonds,)`` bond types (see :data:`BOND_TYPES`; 0 is reserved for padding),
  one entry per *direction* of each chemical bond,
* ``connectivity``: ``(n_bonds, 2)`` source and target atom of each directed bond, sorted by
  source then target.

Batches are built from a :class:`PackedGraphs` (every molecule's arrays concatenated once) with
vectorised indexing, so building a batch costs a few NumPy calls whatever its size. In a padded
batch, padding bonds connect the last atom column to itself, and that column is padding in every
row with padding bonds (atoms get one extra column when needed): messages from padding never
reach a real atom, and a molecule's prediction does not depend on its batch.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from examol_core.errors import ExamolError, InvalidIdentifierError
from examol_core.records import MoleculeRecord, parse_identifier

NUM_ATOM_TYPES = 119
"""Rows of the atom embedding: 0 for padding, then atomic numbers 1–118."""

BOND_TYPES = {'SINGLE': 1, 'DOUBLE': 2, 'TRIPLE': 3, 'AROMATIC': 4}
"""Bond type codes; any other RDKit bond type (dative, …) is :data:`OTHER_BOND`. 0 is padding."""

OTHER_BOND = 5
NUM_BOND_TYPES = 6
"""Rows of the bond embedding."""

GRAPH_KEYS = ('atom', 'bond', 'connectivity')

__all__ = ['UnsupportedMoleculeError', 'InvalidGraphError', 'smiles_to_graph', 'to_graphs', 'PackedGraphs',
           'NUM_ATOM_TYPES', 'NUM_BOND_TYPES', 'BOND_TYPES', 'OTHER_BOND', 'GRAPH_KEYS']


class UnsupportedMoleculeError(ExamolError, ValueError):
    """A molecule that parses but cannot be represented as a graph (an atom with no bond)."""


class InvalidGraphError(ExamolError, ValueError):
    """An input that is not a valid graph dictionary."""


def smiles_to_graph(identifier: str, position: int | None = None) -> dict[str, np.ndarray]:
    """Convert a SMILES or InChI string into a graph dictionary (hydrogens included).

    Args:
        identifier: SMILES or InChI string.
        position: Index of the molecule in the caller's list, used in error messages.
    Returns:
        A graph dictionary (see the module documentation).
    Raises:
        InvalidIdentifierError: RDKit cannot parse the identifier.
        UnsupportedMoleculeError: an atom has no bond (a lone ion, a noble gas, a single atom), or
            an atom is a dummy (``*``): the network passes messages along bonds, so it could not
            learn anything about such an atom.
    """
    from rdkit import Chem

    try:
        mol = parse_identifier(identifier)
    except InvalidIdentifierError as exc:
        raise InvalidIdentifierError(exc.identifier, position) from None
    mol = Chem.AddHs(mol)
    where = '' if position is None else f' at position {position}'

    atoms = np.fromiter((a.GetAtomicNum() for a in mol.GetAtoms()), dtype=np.int32, count=mol.GetNumAtoms())
    if (atoms <= 0).any() or (atoms >= NUM_ATOM_TYPES).any():
        raise UnsupportedMoleculeError(f'Molecule {identifier!r}{where} contains a dummy or unknown atom (*): '
                                       'only real elements can be scored')

    num_bonds = mol.GetNumBonds()
    pairs = np.empty((num_bonds, 2), dtype=np.int32)
    types = np.empty(num_bonds, dtype=np.int32)
    for i, bond in enumerate(mol.GetBonds()):
        pairs[i, 0] = bond.GetBeginAtomIdx()
        pairs[i, 1] = bond.GetEndAtomIdx()
        types[i] = BOND_TYPES.get(str(bond.GetBondType()), OTHER_BOND)

    degree = np.bincount(pairs.ravel(), minlength=len(atoms))
    lonely = np.flatnonzero(degree == 0)
    if len(lonely):
        names = ', '.join(f'{mol.GetAtomWithIdx(int(i)).GetSymbol()}{i}' for i in lonely[:5])
        raise UnsupportedMoleculeError(f'Molecule {identifier!r}{where} has {len(lonely)} atom(s) without any bond '
                                       f'({names}); the message-passing network needs every atom bonded. '
                                       'Remove counter-ions or single atoms before scoring')

    connectivity = np.concatenate([pairs, pairs[:, ::-1]])
    bond = np.concatenate([types, types])
    order = np.lexsort((connectivity[:, 1], connectivity[:, 0]))
    return {'atom': atoms, 'bond': bond[order], 'connectivity': np.ascontiguousarray(connectivity[order])}


def to_graphs(items: Sequence[Any], start: int = 0) -> list[dict[str, np.ndarray]]:
    """Graph dictionaries from records, SMILES/InChI strings, or graph dictionaries (kept as they are).

    Args:
        items: What to convert.
        start: Position of ``items[0]`` in the caller's list, so errors name the right index.
    """
    graphs = []
    for i, item in enumerate(items, start):
        if isinstance(item, MoleculeRecord):
            graphs.append(smiles_to_graph(item.identifier.smiles, i))
        elif isinstance(item, str):
            graphs.append(smiles_to_graph(item, i))
        elif isinstance(item, dict):
            graphs.append(item)
        else:
            raise InvalidGraphError(f'Input at position {i} is a {type(item).__name__}; expected a MoleculeRecord, '
                                    'a SMILES string or a graph dictionary from NFPScorer.transform_inputs')
    return graphs


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + n)`` for each start and length, without a Python loop."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(lengths)
    return np.arange(total, dtype=np.int64) + np.repeat(starts - (ends - lengths), lengths)


@dataclass(frozen=True)
class PackedGraphs:
    """Many graph dictionaries concatenated into flat arrays, ready for fast batching.

    Attributes:
        atom: All atom types, molecule after molecule.
        bond: All bond types.
        connectivity: ``(total_bonds, 2)`` atom indices, local to each molecule.
        n_atoms: Atoms per molecule.
        n_bonds: Directed bonds per molecule.
    """

    atom: np.ndarray
    bond: np.ndarray
    connectivity: np.ndarray
    n_atoms: np.ndarray
    n_bonds: np.ndarray

    def __len__(self) -> int:
        return len(self.n_atoms)

    @property
    def atom_start(self) -> np.ndarray:
        return np.cumsum(self.n_atoms) - self.n_atoms

    @property
    def bond_start(self) -> np.ndarray:
        return np.cumsum(self.n_bonds) - self.n_bonds

    @classmethod
    def from_graphs(cls, graphs: Sequence[dict[str, Any]], start: int = 0) -> 'PackedGraphs':
        """Check and concatenate graph dictionaries.

        Args:
            graphs: Graph dictionaries, as made by :func:`smiles_to_graph`.
            start: Position of ``graphs[0]`` in the caller's list, for error messages.
        Raises:
            InvalidGraphError: naming the first input that is not a valid graph dictionary.
        """
        atoms, bonds, conns = [], [], []
        for i, graph in enumerate(graphs, start):
            if not isinstance(graph, dict) or any(k not in graph for k in GRAPH_KEYS):
                raise InvalidGraphError(f'Input at position {i} is not a graph dictionary with keys {GRAPH_KEYS}; '
                                        'make inputs with NFPScorer.transform_inputs')
            atom = np.asarray(graph['atom'])
            bond = np.asarray(graph['bond'])
            conn = np.asarray(graph['connectivity'])
            if conn.size == 0:
                conn = conn.reshape(0, 2)
            if atom.ndim != 1 or bond.ndim != 1 or conn.ndim != 2 or conn.shape[1] != 2 or len(bond) != len(conn):
                raise InvalidGraphError(f'Graph at position {i} has inconsistent shapes: atom {atom.shape}, '
                                        f'bond {bond.shape}, connectivity {conn.shape}')
            if len(atom) == 0:
                raise InvalidGraphError(f'Graph at position {i} has no atoms')
            atoms.append(atom)
            bonds.append(bond)
            conns.append(conn)
        n_atoms = np.fromiter(map(len, atoms), dtype=np.int64, count=len(atoms))
        n_bonds = np.fromiter(map(len, bonds), dtype=np.int64, count=len(bonds))
        packed = cls(atom=np.concatenate(atoms).astype(np.int32) if atoms else np.zeros(0, np.int32),
                     bond=np.concatenate(bonds).astype(np.int32) if bonds else np.zeros(0, np.int32),
                     connectivity=(np.concatenate(conns).astype(np.int32) if conns
                                   else np.zeros((0, 2), np.int32)),
                     n_atoms=n_atoms, n_bonds=n_bonds)
        packed._check(start)
        return packed

    def _check(self, start: int) -> None:
        """Validate the value ranges of every molecule at once; name the first bad one."""
        def fail(flat_bad: np.ndarray, offsets: np.ndarray, what: str) -> None:
            if flat_bad.any():
                mol = int(np.searchsorted(np.cumsum(offsets), np.flatnonzero(flat_bad)[0], side='right'))
                raise InvalidGraphError(f'Graph at position {start + mol} has {what}')

        fail((self.atom <= 0) | (self.atom >= NUM_ATOM_TYPES), self.n_atoms,
             f'atom types outside 1..{NUM_ATOM_TYPES - 1}')
        fail((self.bond <= 0) | (self.bond >= NUM_BOND_TYPES), self.n_bonds,
             f'bond types outside 1..{NUM_BOND_TYPES - 1}')
        limit = np.repeat(self.n_atoms, self.n_bonds)[:, None]
        fail(((self.connectivity < 0) | (self.connectivity >= limit)).any(axis=1), self.n_bonds,
             'connectivity pointing outside its atoms')

    def subset(self, indices: np.ndarray) -> 'PackedGraphs':
        """The molecules at ``indices``, in that order."""
        indices = np.asarray(indices, dtype=np.int64)
        atoms = _ranges(self.atom_start[indices], self.n_atoms[indices])
        bonds = _ranges(self.bond_start[indices], self.n_bonds[indices])
        return PackedGraphs(self.atom[atoms], self.bond[bonds], self.connectivity[bonds],
                            self.n_atoms[indices], self.n_bonds[indices])

    def batch(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        """A padded batch of the molecules at ``indices``, ready for the network.

        Padding bonds (type 0) connect the last atom column to itself, and that column is padding
        in every row that has padding bonds: atoms are padded to the largest molecule, plus one
        column when a molecule of that size has fewer bonds than the batch's most (rare once
        batches are sorted by size).

        Returns:
            ``atom`` ``(b, width)`` with ``width`` = ``max_atoms`` or ``max_atoms + 1``, ``bond``
            ``(b, max_bonds)`` and ``connectivity`` ``(b, max_bonds, 2)``, all ``int32``.
        """
        indices = np.asarray(indices, dtype=np.int64)
        size = len(indices)
        n_atoms = self.n_atoms[indices]
        n_bonds = self.n_bonds[indices]
        width_bonds = max(int(n_bonds.max(initial=0)), 1)
        # Padding bonds point at the last atom column, which must be padding in their rows: one
        # extra column only when a molecule as wide as the batch also has padding bonds
        width_atoms = max(int(n_atoms.max(initial=0)), int((n_atoms[n_bonds < width_bonds] + 1).max(initial=1)))

        atom = np.zeros((size, width_atoms), dtype=np.int32)
        rows = np.repeat(np.arange(size), n_atoms)
        cols = _ranges(np.zeros(size, dtype=np.int64), n_atoms)
        atom[rows, cols] = self.atom[_ranges(self.atom_start[indices], n_atoms)]

        bond = np.zeros((size, width_bonds), dtype=np.int32)
        connectivity = np.full((size, width_bonds, 2), width_atoms - 1, dtype=np.int32)
        rows = np.repeat(np.arange(size), n_bonds)
        cols = _ranges(np.zeros(size, dtype=np.int64), n_bonds)
        source = _ranges(self.bond_start[indices], n_bonds)
        bond[rows, cols] = self.bond[source]
        connectivity[rows, cols] = self.connectivity[source]
        return {'atom': atom, 'bond': bond, 'connectivity': connectivity}

    def batches(self, batch_size: int, order: np.ndarray | None = None) -> Iterator[tuple[np.ndarray, dict]]:
        """Consecutive padded batches over ``order`` (default: input order), with their indices."""
        order = np.arange(len(self)) if order is None else np.asarray(order)
        for begin in range(0, len(order), batch_size):
            indices = order[begin:begin + batch_size]
            yield indices, self.batch(indices)


def size_sorted_order(n_atoms: np.ndarray, n_bonds: np.ndarray | None = None) -> np.ndarray:
    """Indices sorted by molecule size (atoms, then bonds), so batches of neighbours need little padding."""
    if n_bonds is None:
        return np.argsort(n_atoms, kind='stable')
    return np.lexsort((n_bonds, n_atoms))


def bucketed_batches(n_atoms: np.ndarray, batch_size: int, rng: np.random.Generator,
                     batches_per_bucket: int = 32, n_bonds: np.ndarray | None = None) -> list[np.ndarray]:
    """Random batches (lists of indices) that each hold molecules of similar size.

    Shuffle, sort each window of ``batches_per_bucket`` batches by size (atoms, then bonds), cut
    it into batches and shuffle the batches: every epoch sees different batches, yet each needs
    little padding.
    """
    order = rng.permutation(len(n_atoms))
    window = batch_size * batches_per_bucket
    batches = []
    for begin in range(0, len(order), window):
        chunk = order[begin:begin + window]
        chunk = chunk[size_sorted_order(n_atoms[chunk], None if n_bonds is None else n_bonds[chunk])]
        batches.extend(chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches
