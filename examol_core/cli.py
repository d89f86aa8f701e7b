"""The ``examol`` command (also ``python -m examol_core``)."""
from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help='examol: train and run molecular scorers on remote workers.', no_args_is_help=True,
                  add_completion=False)
console = Console()


@app.callback()
def _root() -> None:
    """examol: train and run molecular scorers on remote workers."""


@app.command()
def plugins(as_json: bool = typer.Option(False, '--json', help='Print machine-readable JSON.')) -> None:
    """List installed scorers and simulators, their models and versions, and plugins that failed to load."""
    from examol_core.plugins import available_scorers, available_simulators, plugin_errors

    scorers, simulators, errors = available_scorers(), available_simulators(), plugin_errors()
    if as_json:
        print(json.dumps({
            'scorers': {n: {'models': sorted(s.models), 'distribution': s.distribution, 'version': s.version,
                            'description': s.description} for n, s in scorers.items()},
            'simulators': {n: {'config_names': list(s.config_names), 'distribution': s.distribution,
                               'version': s.version, 'description': s.description} for n, s in simulators.items()},
            'errors': [e.__dict__ for e in errors]}, indent=2))
        raise typer.Exit(1 if errors else 0)
    table = Table(title='Scorers')
    for column in ('name', 'models', 'package', 'version', 'description'):
        table.add_column(column)
    for name, spec in sorted(scorers.items()):
        table.add_row(name, ', '.join(sorted(spec.models)), spec.distribution, spec.version, spec.description)
    console.print(table if scorers else '[yellow]No scorer plugin is installed[/] (pip install examol-rdkit, for example)')
    if simulators:
        table = Table(title='Simulators')
        for column in ('name', 'methods', 'package', 'version', 'description'):
            table.add_column(column)
        for name, spec in sorted(simulators.items()):
            table.add_row(name, ', '.join(spec.config_names), spec.distribution, spec.version, spec.description)
        console.print(table)
    for error in errors:
        console.print(f'[red]{error}[/]')
    if errors:
        raise typer.Exit(1)


def main() -> None:
    """Entry point of the ``examol`` script."""
    app()
