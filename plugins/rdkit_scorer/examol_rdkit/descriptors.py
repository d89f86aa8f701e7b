"""The descriptor vector of the GPR model (after Doan et al. 2020), computed with less repeated work.

Descriptors are what scoring with the GPR spends its time on. RDKit's ``Descriptors`` functions,
called one per column, redo work that several columns share: each of the four EState columns
recomputes every atom's EState index (in a Python double loop), ``MolMR`` redoes the Crippen atom
typing of ``MolLogP``, and ``NumValenceElectrons``, ``NumRadicalElectrons``, ``Chi0`` and ``Chi1``
each walk the atoms or bonds in Python. :func:`doan_2020_descriptors` computes those shared parts
once per molecule and calls RDKit for the rest; its values equal those of the ``Descriptors``
functions (the tests compare every column).
Runs wherever the featuriser runs: on a worker, or on the steering side as a ``pre_transform``.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import numpy as np
from rdkit import Chem, rdBase
from rdkit.Chem import rdMolDescriptors

__all__ = ['DESCRIPTOR_NAMES', 'doan_2020_descriptors', 'reference_descriptors']

# The descriptors of Doan et al. 2020 (https://doi.org/10.1021/acs.chemmater.0c00768), as RDKit names them.
# Frozen here, rather than read from RDKit at run time, so that a new RDKit release does not change
# the length of the vector under a trained model.
_CONSTITUTIONAL = (
    'MolWt', 'HeavyAtomMolWt', 'ExactMolWt', 'NumValenceElectrons', 'NumRadicalElectrons', 'HeavyAtomCount',
    'NumHeteroatoms', 'NumRotatableBonds', 'RingCount', 'NumAromaticRings', 'NumAliphaticRings', 'NumSaturatedRings',
    'NumAromaticCarbocycles', 'NumAromaticHeterocycles', 'NumAliphaticCarbocycles', 'NumAliphaticHeterocycles',
    'NumSaturatedCarbocycles', 'NumSaturatedHeterocycles', 'FractionCSP3',
    'MaxPartialCharge', 'MinPartialCharge', 'MaxAbsPartialCharge', 'MinAbsPartialCharge',
    'MaxEStateIndex', 'MinEStateIndex', 'MaxAbsEStateIndex', 'MinAbsEStateIndex',
)
_TOPOLOGICAL = (
    'BalabanJ', 'BertzCT', 'Chi0', 'Chi0n', 'Chi0v', 'Chi1', 'Chi1n', 'Chi1v', 'Chi2n', 'Chi2v', 'Chi3n', 'Chi3v',
    'Chi4n', 'Chi4v', 'HallKierAlpha', 'Kappa1', 'Kappa2', 'Kappa3', 'TPSA', 'LabuteASA',
)
_CRIPPEN = ('MolLogP', 'MolMR')
_LIPINSKI = ('NumHDonors', 'NumHAcceptors', 'NHOHCount', 'NOCount')
_FRAGMENTS = (
    'fr_Al_COO', 'fr_Al_OH', 'fr_Al_OH_noTert', 'fr_ArN', 'fr_Ar_COO', 'fr_Ar_N', 'fr_Ar_NH', 'fr_Ar_OH', 'fr_COO',
    'fr_COO2', 'fr_C_O', 'fr_C_O_noCOO', 'fr_C_S', 'fr_HOCCN', 'fr_Imine', 'fr_NH0', 'fr_NH1', 'fr_NH2', 'fr_N_O',
    'fr_Ndealkylation1', 'fr_Ndealkylation2', 'fr_Nhpyrrole', 'fr_SH', 'fr_aldehyde', 'fr_alkyl_carbamate',
    'fr_alkyl_halide', 'fr_allylic_oxid', 'fr_amide', 'fr_amidine', 'fr_aniline', 'fr_aryl_methyl', 'fr_azide',
    'fr_azo', 'fr_barbitur', 'fr_benzene', 'fr_benzodiazepine', 'fr_bicyclic', 'fr_diazo', 'fr_dihydropyridine',
    'fr_epoxide', 'fr_ester', 'fr_ether', 'fr_furan', 'fr_guanido', 'fr_halogen', 'fr_hdrzine', 'fr_hdrzone',
    'fr_imidazole', 'fr_imide', 'fr_isocyan', 'fr_isothiocyan', 'fr_ketone', 'fr_ketone_Topliss', 'fr_lactam',
    'fr_lactone', 'fr_methoxy', 'fr_morpholine', 'fr_nitrile', 'fr_nitro', 'fr_nitro_arom', 'fr_nitro_arom_nonortho',
    'fr_nitroso', 'fr_oxazole', 'fr_oxime', 'fr_para_hydroxylation', 'fr_phenol', 'fr_phenol_noOrthoHbond',
    'fr_phos_acid', 'fr_phos_ester', 'fr_piperdine', 'fr_piperzine', 'fr_priamide', 'fr_prisulfonamd', 'fr_pyridine',
    'fr_quatN', 'fr_sulfide', 'fr_sulfonamd', 'fr_sulfone', 'fr_term_acetylene', 'fr_tetrazole', 'fr_thiazole',
    'fr_thiocyan', 'fr_thiophene', 'fr_unbrch_alkane', 'fr_urea',
)

#: Names of the columns of :func:`doan_2020_descriptors`, in order.
DESCRIPTOR_NAMES: tuple[str, ...] = _CONSTITUTIONAL + _TOPOLOGICAL + _CRIPPEN + _LIPINSKI + _FRAGMENTS

#: Columns computed together from work done once per molecule (:func:`_shared_values`), in its order.
_SHARED = ('NumValenceElectrons', 'NumRadicalElectrons', 'Chi0', 'Chi1', 'MaxEStateIndex', 'MinEStateIndex',
           'MaxAbsEStateIndex', 'MinAbsEStateIndex', 'MolLogP', 'MolMR')
_ERRORS = (ValueError, RuntimeError, ZeroDivisionError)  # RDKit gives up on a few exotic molecules


@functools.cache
def _rdkit_functions() -> tuple[Callable[[Chem.Mol], float], ...]:
    """RDKit's own function for each column, in order."""
    from rdkit.Chem import Descriptors  # slow to import (~0.2 s): only when descriptors are used

    table = dict(Descriptors.descList)
    missing = [name for name in DESCRIPTOR_NAMES if name not in table]
    if missing:
        raise ImportError(f'This RDKit ({rdBase.rdkitVersion}) lacks the descriptors {missing}; install rdkit>=2024.3')
    return tuple(table[name] for name in DESCRIPTOR_NAMES)


class _Fragments:
    """Counts of RDKit's fragment patterns, matching only the patterns a molecule contains.

    ``rdkit.Chem.Fragments`` counts each pattern with its own Python call, although most are
    absent from a given molecule. A ``FilterCatalog`` of the same patterns finds, in one C++ call,
    which ones occur; only those are counted (with the call RDKit's fragment functions make).
    """

    def __init__(self, columns: dict[int, Chem.Mol]):
        from rdkit.Chem import rdfiltercatalog

        self.columns = columns
        self.catalog = rdfiltercatalog.FilterCatalog()
        for j, pattern in columns.items():
            matcher = rdfiltercatalog.SmartsMatcher(str(j), pattern, 1)
            self.catalog.AddEntry(rdfiltercatalog.FilterCatalogEntry(str(j), matcher))

    def fill(self, mol: Chem.Mol, row: np.ndarray) -> None:
        for entry in self.catalog.GetMatches(mol):
            j = int(entry.GetDescription())
            row[j] = len(mol.GetSubstructMatches(self.columns[j], uniquify=True))


@functools.cache
def _column_plan() -> tuple[list[int], list[tuple[int, Callable[[Chem.Mol], float]]], _Fragments]:
    """Where the shared columns go, the RDKit function of each other column, and the fragment counter.

    Fragment patterns are read as ``rdkit.Chem.Fragments`` reads them; a fragment absent from
    RDKit's pattern file keeps RDKit's function.
    """
    from rdkit.Chem import Fragments

    patterns = {}
    with open(Fragments.defaultPatternFileName) as fp:  # the file and parsing of Fragments._LoadPatterns
        for line in fp:
            fields = line.split('\t')
            if line[0] != '#' and len(fields) >= 3:
                patterns[fields[0].replace('=', '_').replace('-', '_')] = fields[2]
    functions = _rdkit_functions()
    shared = [DESCRIPTOR_NAMES.index(name) for name in _SHARED]
    fragments = {j: Chem.MolFromSmarts(patterns[name]) for j, name in enumerate(DESCRIPTOR_NAMES)
                 if name.startswith('fr_') and name in patterns}
    others = [(j, functions[j]) for j in range(len(DESCRIPTOR_NAMES)) if j not in shared and j not in fragments]
    return shared, others, _Fragments(fragments)


def _principal_quantum_number(atomic_number: int) -> int:
    """As ``rdkit.Chem.EState.EState.GetPrincipleQuantumNumber``."""
    for n, last in enumerate((2, 10, 18, 36, 54, 86), start=1):
        if atomic_number <= last:
            return n
    return 7


@functools.cache
def _element(atomic_number: int) -> tuple[int, float]:
    """Outer electrons of an element, and the EState factor ``4 / n²`` of its principal quantum number ``n``."""
    quantum = _principal_quantum_number(atomic_number)
    return Chem.GetPeriodicTable().GetNOuterElecs(atomic_number), 4. / (quantum * quantum)


def _inverse_root_sum(values: Sequence[int]) -> float:
    """``sum(1 / sqrt(v))`` over the non-zero values, added one after the other as RDKit's Chi0 and Chi1 do."""
    total = 0.
    for value in values:
        if value:
            total += math.sqrt(1. / value)
    return total


def _shared_values(mol: Chem.Mol) -> tuple[float, ...]:
    """The :data:`_SHARED` columns, from one pass over the atoms and bonds.

    Each value is computed by the arithmetic of the RDKit function it replaces, in the same
    order, so that the values are identical: the EState indices sum each atom's perturbations
    one after the other by atom index, as RDKit's double loop does (a pairwise sum differs in the
    last bits, and that difference can vary with memory alignment, from one process to another).
    Atoms and bonds are fetched by index: iterating ``mol.GetAtoms()`` costs more than the work.
    """
    n = mol.GetNumAtoms()
    degrees = [0] * n
    intrinsic = np.zeros(n)  # EState intrinsic state of each atom
    valence = radicals = 0
    for i in range(n):
        atom = mol.GetAtomWithIdx(i)
        hydrogens, degree = atom.GetTotalNumHs(), atom.GetDegree()
        outer, factor = _element(atom.GetAtomicNum())
        valence += outer - atom.GetFormalCharge() + hydrogens
        radicals += atom.GetNumRadicalElectrons()
        degrees[i] = degree
        if degree > 0:
            intrinsic[i] = (factor * (outer - hydrogens) + 1) / degree
    bonds = (mol.GetBondWithIdx(j) for j in range(mol.GetNumBonds()))
    chi0 = _inverse_root_sum(degrees)
    chi1 = _inverse_root_sum([degrees[b.GetBeginAtomIdx()] * degrees[b.GetEndAtomIdx()] for b in bonds])

    paths = Chem.GetDistanceMatrix(mol, useBO=False, useAtomWts=False) + 1
    with np.errstate(divide='ignore', invalid='ignore'):
        perturbation = np.where(paths < 1e6, (intrinsic[:, None] - intrinsic[None, :]) / (paths * paths), 0.)
    estate = np.cumsum(perturbation, axis=1)[:, -1] + intrinsic if n else intrinsic  # RDKit's order of summation
    magnitude = np.abs(estate)
    logp, mr = rdMolDescriptors.CalcCrippenDescriptors(mol)
    return (valence, radicals, chi0, chi1, estate.max(), estate.min(), magnitude.max(), magnitude.min(), logp, mr)


def _fill(mol: Chem.Mol, row: np.ndarray, functions: Sequence[tuple[int, Callable[[Chem.Mol], float]]]) -> None:
    for j, func in functions:
        try:
            row[j] = func(mol)
        except _ERRORS:
            row[j] = np.nan


def doan_2020_descriptors(mols: Sequence[Chem.Mol]) -> np.ndarray:
    """A broad RDKit descriptor vector: constitutional, topological, Crippen, Lipinski and fragment counts.

    The set follows Doan et al. 2020 (redox-active molecules); :data:`DESCRIPTOR_NAMES` names the
    columns, the values are those of RDKit's ``Descriptors`` functions of the same names (see
    :func:`reference_descriptors`). Values RDKit cannot compute for a molecule (e.g. Gasteiger
    charges of unusual elements) are NaN or infinite there; they are set to 0 so that PCA and
    GPR can use the rest.

    Returns:
        ``(len(mols), len(DESCRIPTOR_NAMES))`` float64 array.
    """
    shared, others, fragments = _column_plan()
    fallback = [(j, _rdkit_functions()[j]) for j in shared]
    out = np.zeros((len(mols), len(DESCRIPTOR_NAMES)))
    with rdBase.BlockLogs():
        for i, mol in enumerate(mols):
            row = out[i]
            try:
                row[shared] = _shared_values(mol)
            except _ERRORS:  # an exotic molecule: RDKit's functions, one column at a time, say which columns fail
                _fill(mol, row, fallback)
            _fill(mol, row, others)
            fragments.fill(mol, row)
    out[~np.isfinite(out)] = 0.
    return out


def reference_descriptors(mols: Sequence[Chem.Mol]) -> np.ndarray:
    """:func:`doan_2020_descriptors` computed the plain way: RDKit's ``Descriptors`` function for each column.

    About twice as slow; kept as the definition the fast path is checked against, and as the
    baseline of ``bench/rdkit_scoring.py``.
    """
    functions = _rdkit_functions()
    out = np.zeros((len(mols), len(functions)))
    with rdBase.BlockLogs():
        for i, mol in enumerate(mols):
            _fill(mol, out[i], enumerate(functions))
    out[~np.isfinite(out)] = 0.
    return out
