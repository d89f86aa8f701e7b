"""examol core: molecule records, property recipes, the scorer protocol and the plugin registry.

Importing this package never imports scikit-learn or TensorFlow; plugins bring those.
"""
from examol_core.errors import ExamolError, InvalidIdentifierError, MissingDataError
from examol_core.recipes import PropertyRecipe, RedoxEnergy, SimulationRequest, SolvationEnergy
from examol_core.records import Conformer, EnergyEvaluation, MoleculeRecord, read_records, write_records
from examol_core.scorer import MultiFidelityScorer, Scorer

__version__ = '0.1.0'

__all__ = ['MoleculeRecord', 'Conformer', 'EnergyEvaluation', 'read_records', 'write_records',
           'PropertyRecipe', 'RedoxEnergy', 'SolvationEnergy', 'SimulationRequest',
           'Scorer', 'MultiFidelityScorer', 'ExamolError', 'InvalidIdentifierError', 'MissingDataError']
