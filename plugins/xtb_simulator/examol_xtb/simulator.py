"""GFN1-xTB and GFN2-xTB simulations with tblite, geometry optimisation with ASE.

:class:`XTBSimulator` runs wherever ``simulate`` is called: in the steering process, in a
process pool, or on a remote worker. It holds only its settings, so it pickles; tblite and ASE
are imported on first use, in the process that computes.
"""
from __future__ import annotations

import os
import time
from collections.abc import Mapping
from io import StringIO
from typing import Any

from examol_core.recipes import SimulationRequest
from examol_core.simulator import SimulationResult, SimulationStep, Simulator

METHODS: Mapping[str, str] = {'gfn1': 'GFN1-xTB', 'gfn2': 'GFN2-xTB'}
"""Config names offered by this simulator and the tblite method each one runs."""

SOLVENT_ALIASES: Mapping[str, str] = {'acn': 'acetonitrile', 'dmso': 'dmso', 'thf': 'thf', 'dmf': 'dmf'}
"""Short solvent names used by ExaMol recipes, mapped to the names tblite's ALPB model knows."""

_OPTIMIZERS = ('BFGS', 'LBFGS', 'FIRE')


def multiplicity(numbers: Any, charge: int) -> int:
    """Lowest spin multiplicity for a molecule: a doublet when the electron count is odd.

    Args:
        numbers: Atomic numbers.
        charge: Total charge.
    """
    electrons = int(sum(int(z) for z in numbers)) - int(charge)
    if electrons < 0:
        raise ValueError(f'Charge {charge} leaves a negative number of electrons')
    return electrons % 2 + 1


def set_thread_count(threads: int) -> None:
    """Limit OpenMP and BLAS threads in this process.

    Call it in a worker before tblite is imported (a process-pool initializer): OpenMP reads
    ``OMP_NUM_THREADS`` once. :meth:`XTBSimulator.simulate` also limits threads around each
    calculation with threadpoolctl, which works after import.
    """
    for var in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
        os.environ[var] = str(threads)
    os.environ.setdefault('OMP_STACKSIZE', '256M')


def _describe(request: SimulationRequest, numbers: Any = None) -> str:
    """Name the molecule in a failure: its SMILES, else its formula."""
    if request.smiles:
        return request.smiles
    if numbers is not None:
        from ase.symbols import Symbols
        return str(Symbols(numbers).get_chemical_formula())
    return 'molecule'


class XTBSimulator(Simulator):
    """Energies and relaxed geometries from GFN-xTB (tblite), with ASE optimisers.

    Where it runs: on workers (one thread each by default: tblite timings are erratic when
    threads compete on a busy machine).

    Args:
        threads: OpenMP threads per calculation.
        fmax: Force threshold (eV/Å) for a converged optimisation.
        max_steps: Optimiser steps allowed before the optimisation counts as failed.
        optimizer: ASE optimiser: ``BFGS``, ``LBFGS`` or ``FIRE``.
        keep_steps: Return the geometry and energy of every optimisation step.
        accuracy: tblite numerical accuracy (smaller is tighter).
        max_iterations: SCC iterations allowed per single point.
        solvent_model: tblite implicit solvent model for requests with a solvent: ``alpb`` or ``gbsa``.
    """

    def __init__(self, threads: int = 1, fmax: float = 0.05, max_steps: int = 250, optimizer: str = 'BFGS',
                 keep_steps: bool = True, accuracy: float = 1.0, max_iterations: int = 250,
                 solvent_model: str = 'alpb'):
        self.threads = threads
        self.fmax = fmax
        self.max_steps = max_steps
        self.optimizer = optimizer
        self.keep_steps = keep_steps
        self.accuracy = accuracy
        self.max_iterations = max_iterations
        self.solvent_model = solvent_model
        if optimizer not in _OPTIMIZERS:
            raise ValueError(f'optimizer {optimizer!r} is not one of {", ".join(_OPTIMIZERS)}')
        if solvent_model not in ('alpb', 'gbsa'):
            raise ValueError(f'solvent_model {solvent_model!r} is not "alpb" or "gbsa"')
        if threads < 1 or max_steps < 0 or fmax <= 0:
            raise ValueError('threads must be ≥ 1, max_steps ≥ 0 and fmax > 0')

    def __repr__(self) -> str:
        return (f'XTBSimulator(threads={self.threads}, fmax={self.fmax}, max_steps={self.max_steps}, '
                f'optimizer={self.optimizer!r})')

    @property
    def config_names(self) -> tuple[str, ...]:
        return tuple(METHODS)

    def make_calculator(self, config_name: str, charge: int, numbers: Any, solvent: str | None = None):
        """The ASE calculator for one method, charge and solvent (verbosity off).

        Raises:
            ValueError: for an unknown config name.
        """
        from tblite.ase import TBLite

        if config_name not in METHODS:
            raise ValueError(f'config name {config_name!r} is not offered; use one of {", ".join(METHODS)}')
        kwargs: dict[str, Any] = {}
        if solvent:
            kwargs['solvation'] = (self.solvent_model, SOLVENT_ALIASES.get(solvent.lower(), solvent.lower()))
        return TBLite(method=METHODS[config_name], charge=charge, multiplicity=multiplicity(numbers, charge),
                      accuracy=self.accuracy, max_iterations=self.max_iterations, verbosity=0, **kwargs)

    def simulate(self, request: SimulationRequest) -> SimulationResult:
        """Run a single point or an optimisation; failures come back as unsuccessful results.

        Returns:
            Energy in eV; for optimisations the relaxed geometry and, if ``keep_steps``,
            every step. For single points the geometry is the request's, unchanged.
        """
        start = time.perf_counter()
        step = 'reading the geometry'
        numbers = None
        try:
            from ase.io import read
            from threadpoolctl import threadpool_limits

            atoms = read(StringIO(request.xyz), format='xyz')
            numbers = atoms.get_atomic_numbers()
            step = 'setting up the calculator'
            atoms.calc = self.make_calculator(request.config_name, request.charge, numbers, request.solvent)
            with threadpool_limits(limits=self.threads):
                if not request.optimize:
                    step = f'{request.config_name} single point'
                    energy = float(atoms.get_potential_energy())
                    return SimulationResult(request=request, success=True, xyz=request.xyz, energy=energy,
                                            runtime=time.perf_counter() - start)
                step = f'{request.config_name} optimisation'
                steps, converged = self._optimize(atoms)
                energy = float(atoms.get_potential_energy())
        except Exception as exc:  # a failure is a result, never a crash of the worker
            message = f'{_describe(request, numbers)}: {step} (charge {request.charge}'
            message += f', solvent {request.solvent})' if request.solvent else ')'
            return SimulationResult(request=request, success=False, runtime=time.perf_counter() - start,
                                    failure=f'{message} failed: {type(exc).__name__}: {str(exc).strip()}')
        if not converged:
            return SimulationResult(
                request=request, success=False, steps=steps, runtime=time.perf_counter() - start,
                failure=f'{_describe(request, numbers)}: {step} (charge {request.charge}) did not converge to '
                        f'fmax={self.fmax} eV/Å in {self.max_steps} steps')
        return SimulationResult(request=request, success=True, xyz=_to_xyz(atoms), energy=energy, steps=steps,
                                runtime=time.perf_counter() - start)

    def _optimize(self, atoms) -> tuple[tuple[SimulationStep, ...], bool]:
        import ase.optimize

        optimizer = getattr(ase.optimize, self.optimizer)(atoms, logfile=None)
        steps: list[SimulationStep] = []
        if self.keep_steps:
            def record() -> None:
                steps.append(SimulationStep(xyz=_to_xyz(atoms), energy=float(atoms.get_potential_energy())))
            optimizer.attach(record, interval=1)
        converged = optimizer.run(fmax=self.fmax, steps=self.max_steps)
        return tuple(steps), bool(converged)


def _to_xyz(atoms) -> str:
    lines = [str(len(atoms)), '']
    for symbol, (x, y, z) in zip(atoms.get_chemical_symbols(), atoms.positions, strict=True):
        lines.append(f'{symbol} {x:.6f} {y:.6f} {z:.6f}')
    return '\n'.join(lines) + '\n'
