"""Initial 3D geometries from RDKit (ETKDG embedding, then MMFF94 relaxation).

Runs wherever a recipe needs a starting geometry for a record that has none.
"""
from __future__ import annotations

from examol_core.errors import SimulationError
from examol_core.records import Conformer, EnergyEvaluation, MoleculeRecord, parse_identifier

KCAL_PER_EV = 23.060547830619026
"""kcal/mol in one eV."""


def mol_to_xyz(mol, conf_id: int = -1) -> str:
    """XYZ text of an RDKit molecule with explicit hydrogens."""
    conf = mol.GetConformer(conf_id)
    lines = [str(mol.GetNumAtoms()), '']
    for atom in mol.GetAtoms():
        pos = conf.GetAtomPosition(atom.GetIdx())
        lines.append(f'{atom.GetSymbol()} {pos.x:.6f} {pos.y:.6f} {pos.z:.6f}')
    return '\n'.join(lines) + '\n'


def generate_initial_xyz(smiles: str, num_attempts: int = 4, seed: int = 1) -> tuple[str, float]:
    """Embed a molecule with ETKDG and relax it with MMFF94.

    Returns:
        XYZ text and the MMFF energy (eV).
    Raises:
        SimulationError: naming the molecule and the step that failed.
    """
    from rdkit import Chem, rdBase
    from rdkit.Chem import AllChem

    mol = Chem.AddHs(parse_identifier(smiles))
    params = AllChem.ETKDGv3()
    params.randomSeed = seed
    if AllChem.EmbedMolecule(mol, params) != 0:
        params.useRandomCoords = True
        if AllChem.EmbedMolecule(mol, params) != 0:
            # Strained cages often fail ETKDG's tetrahedral-centre checks only because of their
            # hydrogens: embed the heavy atoms, then place the hydrogens (MMFF94 relaxes them next)
            heavy = parse_identifier(smiles)
            with rdBase.BlockLogs():  # RDKit warns that the molecule has no explicit hydrogens
                embedded = AllChem.EmbedMolecule(heavy, params)
            if embedded != 0:
                raise SimulationError(f'{smiles}: conformer embedding (ETKDG, also without hydrogens) failed')
            mol = Chem.AddHs(heavy, addCoords=True)
    props = AllChem.MMFFGetMoleculeProperties(mol)
    if props is None:
        raise SimulationError(f'{smiles}: MMFF94 has no parameters for this molecule')
    field = AllChem.MMFFGetMoleculeForceField(mol, props)
    for _ in range(num_attempts):
        if field.Minimize(maxIts=2000) == 0:
            break
    energy_kcal = field.CalcEnergy()
    return mol_to_xyz(mol), energy_kcal / KCAL_PER_EV


def add_initial_conformer(record: MoleculeRecord) -> Conformer:
    """Give a record its MMFF94 starting geometry (config name ``mmff``, charge 0)."""
    xyz, energy = generate_initial_xyz(record.identifier.smiles)
    conf = Conformer(xyz=xyz, source='initial', config_name='mmff', charge=0,
                     energies=[EnergyEvaluation(energy=energy, config_name='mmff', charge=0)])
    return record.add_conformer(conf)
