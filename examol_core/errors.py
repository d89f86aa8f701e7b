"""One error hierarchy for the whole project.

Every error examol raises on purpose derives from :class:`ExamolError`, and also from the
built-in exception a Python user would expect (``ValueError`` for bad data, ``LookupError``
for unknown names), so that ``except ValueError`` keeps working in user code.
"""
from __future__ import annotations


class ExamolError(Exception):
    """Base class of every error raised deliberately by examol."""


class InvalidIdentifierError(ExamolError, ValueError):
    """A SMILES or InChI string that RDKit cannot parse."""

    def __init__(self, identifier: str, position: int | None = None, reason: str = 'could not be parsed'):
        self.identifier = identifier
        self.position = position
        self.reason = reason
        where = '' if position is None else f' at position {position}'
        shown = repr(identifier) if len(identifier) <= 100 else f'{identifier[:60]!r}... ({len(identifier)} characters)'
        super().__init__(f'Molecule {shown}{where} {reason}')

    def __reduce__(self):
        # Errors raised on a worker travel back pickled: rebuild from the parts, not the message
        return type(self), (self.identifier, self.position, self.reason)


class MissingDataError(ExamolError, ValueError):
    """A record lacks an energy or geometry that a recipe needs."""


class ShapeMismatchError(ExamolError, ValueError):
    """Inputs, outputs or lower-fidelity arrays whose lengths disagree."""


class InvalidLabelsError(ExamolError, ValueError):
    """Training labels that cannot be used (NaN in single-fidelity training, too few records)."""


class UnknownPluginError(ExamolError, LookupError):
    """A scorer, simulator or model name that no installed plugin provides."""


class IncompatibleVersionError(ExamolError, ValueError):
    """A saved model or message written by a version or plugin this installation cannot read."""


class SimulationError(ExamolError, RuntimeError):
    """A simulation that failed; the message names the molecule and the step."""


class DataFileError(ExamolError, ValueError):
    """A file that cannot be read or written as asked: damaged, truncated, in another format or
    encoding, or a path that cannot hold it. The message names the file (and the line or record)."""


class InvalidOptionError(ExamolError, ValueError):
    """A scorer, model or training option given a value it cannot take; the message names the option."""

