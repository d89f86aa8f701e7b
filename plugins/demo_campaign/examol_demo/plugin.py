"""Hook implementations: the ``examol demo`` command (``examol_register_commands``).

Kept light: the campaign, Colmena and matplotlib are imported when the command runs.
"""
from __future__ import annotations

import logging
from pathlib import Path

import typer
from examol_core.plugins import hookimpl

__all__ = ['examol_register_commands', 'demo']


def demo(
    output_dir: Path = typer.Option(Path('demo-output'), '--output-dir', '-o', help='Where to write report.md, '
                                    'results.json and the plots.'),
    rounds: int | None = typer.Option(None, '--rounds', help='Batches each strategy acquires (default 10; quick 2).'),
    batch_size: int | None = typer.Option(None, '--batch-size', help='Molecules simulated per batch '
                                          '(default 8; quick 4).'),
    seed_size: int | None = typer.Option(None, '--seed-size', help='Molecules known at every level at the start '
                                         '(default 20; quick 10).'),
    test_size: int | None = typer.Option(None, '--test-size', help='Held-out molecules for the parity plot and MAE '
                                         '(default 150; quick 30).'),
    pool_size: int | None = typer.Option(None, '--pool-size', help='Candidate molecules, seed included '
                                         '(default: all but the held-out ones, 846; quick 100).'),
    ensemble: int | None = typer.Option(None, '--ensemble', help='Members of each bootstrap ensemble '
                                        '(default 8; quick 3).'),
    chunk_size: int | None = typer.Option(None, '--chunk-size', help='Molecules per inference task '
                                          '(default 250; quick 50).'),
    acquisition: str = typer.Option('ucb', '--acquisition', help='ucb (mean + beta x std) or ei (expected '
                                    'improvement).'),
    beta: float = typer.Option(1.0, '--beta', help='Weight of the ensemble standard deviation in UCB.'),
    scorer_name: str = typer.Option('rdkit', '--scorer', help='Any installed multi-fidelity scorer '
                                    '(see `examol plugins`).'),
    model_name: str | None = typer.Option(None, '--model', help='Model of that scorer (default: knn for rdkit, '
                                          'else the scorer\'s only model).'),
    settings: list[str] = typer.Option([], '--set', help='KEY=VALUE for the model factory (e.g. n_neighbors=4); '
                                       'scorer.KEY=VALUE for the scorer, train.KEY=VALUE for retrain. Repeat.'),
    quick: bool = typer.Option(False, '--quick', help='A tiny campaign, for a first try.'),
    random_seed: int = typer.Option(0, '--random-seed', help='Seed of the split, the seed set, random picks and '
                                    'bootstrap samples.'),
    workers: int = typer.Option(2, '--workers', help='Local worker processes (ignored with --parsl-config).'),
    local: bool = typer.Option(False, '--local', help='Worker threads of a local Colmena task server instead of '
                               'Parsl (no start-up cost).'),
    parsl_config: Path | None = typer.Option(None, '--parsl-config', help='Python file defining `config`, a '
                                             'parsl.config.Config (see examples/parsl_slurm.py).'),
) -> None:
    """The main demo: an active-learning campaign with real xTB simulations on a Colmena task server.

    Starting from the project's oxidation-potential data set with the cheap level known everywhere
    and the expensive ones for a small seed set, three strategies (multi-fidelity ensemble + UCB,
    single-fidelity ensemble + UCB, random) run side by side: ensembles are trained and the pool is
    scored on workers, picked molecules are simulated on workers. Writes a Markdown report with
    plots into --output-dir.
    """
    from examol_core.cli import parse_settings
    from examol_core.errors import ExamolError
    from rich.console import Console
    from rich.logging import RichHandler
    from rich.table import Table

    from examol_demo import DemoSettings, run_demo

    console = Console()
    logging.getLogger().addHandler(RichHandler(console=console, level=logging.WARNING, show_time=False,
                                               show_path=False))  # warnings above the progress bars
    try:
        options = parse_settings(settings, 'model', ('model', 'scorer', 'train'))
        if parsl_config is not None:
            from examol_core.colmena import load_parsl_config

            parsl_config = load_parsl_config(parsl_config)
        given = {'rounds': rounds, 'batch_size': batch_size, 'seed_size': seed_size, 'test_size': test_size,
                 'pool_size': pool_size, 'ensemble_size': ensemble, 'chunk_size': chunk_size}
        values = {**(DemoSettings.QUICK if quick else {}), **{k: v for k, v in given.items() if v is not None}}
        demo_settings = DemoSettings(**values, acquisition=acquisition, beta=beta, scorer=scorer_name,
                                     model=model_name, model_options=options['model'],
                                     scorer_options=options['scorer'], train_options=options['train'],
                                     workers=workers, local=local, random_seed=random_seed, parsl_config=parsl_config)
        demo_settings.check()
        result, paths = run_demo(demo_settings, output_dir, console=console)
    except (ExamolError, ValueError) as exc:
        console.print(f'[red]Error:[/] {exc}', highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    table = Table(title=f'Demo: {result.settings.rounds} rounds of {result.settings.batch_size} molecules per '
                  'strategy')
    for column in ('strategy', 'best found (eV)', 'molecule', 'held-out MAE (eV)'):
        table.add_column(column)
    for strategy in result.strategies:
        last = strategy.history[-1]
        mae = '–' if strategy.final_mae is None else f'{strategy.final_mae:.3f}'
        table.add_row(strategy.label, f'{last.best:.3f}', last.best_smiles, mae)
    console.print(table)
    console.print(f'Best in the pool: {max(result.pool_top):.3f} eV. Wall time {result.timings["total"]:.1f} s. '
                  f'Report: {paths["report"]}', highlight=False)


@hookimpl
def examol_register_commands(app: typer.Typer) -> None:
    """Add ``examol demo``."""
    app.command('demo')(demo)
