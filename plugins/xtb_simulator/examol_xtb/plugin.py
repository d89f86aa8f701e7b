"""Hook implementations registered through the ``examol`` entry point.

Kept light: loading plugins must not import tblite or ASE.
"""
from __future__ import annotations

from examol_core.plugins import SimulatorSpec, hookimpl


@hookimpl
def examol_simulators() -> list[SimulatorSpec]:
    """The xTB simulator (GFN1-xTB and GFN2-xTB through tblite)."""
    return [SimulatorSpec(name='xtb', simulator='examol_xtb.simulator:XTBSimulator', config_names=('gfn1', 'gfn2'),
                          description='GFN1-/GFN2-xTB energies (tblite) and ASE geometry optimisation, '
                                      'with ALPB implicit solvent')]
