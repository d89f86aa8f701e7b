"""The ``examol`` command (also ``python -m examol_core``).

``examol plugins`` lists what is installed; ``examol train`` trains a model on a worker of a
Colmena task server and saves it (:mod:`examol_core.modelfile`); ``examol score`` scores a
SMILES file of any size in chunks across workers; ``examol model-info`` shows a model's manifest;
``examol demo`` runs the active-learning demo (:mod:`examol_core.demo`).
Heavy imports (Colmena, Parsl, plugins) happen inside the commands.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

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


class _Abort(Exception):
    """An error to report in one line, without a traceback."""


def _fail(message: str, code: int = 2) -> typer.Exit:
    console.print(f'[red]Error:[/] {message}', highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_settings(settings: list[str], default: str, allowed: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """``--set`` options: ``key=value`` goes to ``default``, ``group.key=value`` to ``group``.

    Values are read as JSON when they parse (``3``, ``0.5``, ``true``, ``[1, 2]``), as strings otherwise.
    """
    out: dict[str, dict[str, Any]] = {group: {} for group in allowed}
    for item in settings:
        key, sep, value = item.partition('=')
        key = key.strip()
        if not sep or not key:
            raise _Abort(f'--set {item!r} is not of the form key=value')
        group, dot, name = key.partition('.')
        if not dot:
            group, name = default, key
        if group not in out:
            raise _Abort(f'--set {item!r}: unknown group {group!r}; use {", ".join(g + ".KEY" for g in allowed)} '
                         f'or a bare KEY (a {default} option)')
        out[group][name] = _parse_value(value)
    return out


def _setup_logging() -> None:
    from rich.logging import RichHandler

    root = logging.getLogger()
    if not any(isinstance(h, RichHandler) for h in root.handlers):
        handler = RichHandler(console=Console(stderr=True), show_time=False, show_path=False)
        handler.setLevel(logging.WARNING)
        root.addHandler(handler)
    logging.getLogger('parsl').setLevel(logging.WARNING)


def _server_options(workers: int, parsl_config: Path | None, redis_url: str | None, local: bool) -> dict[str, Any]:
    if workers < 1:
        raise _Abort(f'--workers must be at least 1; got {workers}')
    if parsl_config is not None and local:
        raise _Abort('--parsl-config and --local exclude each other')
    options: dict[str, Any] = {'workers': workers, 'redis_url': redis_url, 'local': local}
    if parsl_config is not None:
        from examol_core.colmena import load_parsl_config

        options['parsl_config'] = load_parsl_config(parsl_config)
    return options


_WORKERS = typer.Option(1, '--workers', help='Local worker processes (ignored with --parsl-config).')
_PARSL = typer.Option(None, '--parsl-config', help='Python file defining `config`, a parsl.config.Config '
                      '(e.g. for Slurm or PBS; see examples/parsl_slurm.py). Default: local workers.')
_REDIS = typer.Option(None, '--redis-url', help='Use Redis queues and ProxyStore on this server '
                      '(redis://host:port) for multi-node runs. Default: in-process pipes and a temporary directory.')
_LOCAL = typer.Option(False, '--local', help='Run tasks in threads of a local Colmena task server instead of Parsl '
                      '(no start-up cost; for quick runs).')


@app.command()
def train(
    records: Path = typer.Option(..., '--records', help='Molecule records, JSON lines (.jsonl or .jsonl.gz).'),
    recipe: str = typer.Option(..., '--recipe', help='Property to learn, NAME/LEVEL '
                               '(e.g. oxidation_potential/gfn2-adiabatic).'),
    lower: list[str] = typer.Option([], '--lower', help='A lower fidelity level, NAME/LEVEL; repeat, lowest first, '
                                    'for multi-fidelity (delta) learning.'),
    scorer_name: str = typer.Option(..., '--scorer', help='Scorer plugin (see `examol plugins`).'),
    model_name: str = typer.Option(..., '--model', help='Model of that scorer (e.g. knn).'),
    settings: list[str] = typer.Option([], '--set', help='Option KEY=VALUE for the model factory; '
                                       'scorer.KEY=VALUE for the scorer, train.KEY=VALUE for retrain. Repeat.'),
    output: Path = typer.Option(..., '--output', '-o', help='Model file to write (a zip archive); an existing '
                                'file is replaced once training succeeds (never the --records file).'),
    ensemble: int = typer.Option(1, '--ensemble', help='Train a bootstrap ensemble of N models (scores then '
                                 'get a standard deviation).'),
    seed: int = typer.Option(0, '--seed', help='Seed of the bootstrap samples.'),
    workers: int = _WORKERS,
    parsl_config: Path | None = _PARSL,
    redis_url: str | None = _REDIS,
    local: bool = _LOCAL,
) -> None:
    """Train a model on records, on a worker of a task server, and save it to a model file."""
    from examol_core.colmena import TrainingFailed, train_model_file
    from examol_core.errors import ExamolError

    _setup_logging()
    status = None

    def progress(stage: str, message: str) -> None:
        nonlocal status
        if stage in ('loaded', 'saved'):
            console.print(message, highlight=False, soft_wrap=True)
        elif status is None:
            status = console.status(message)
            status.start()
        else:
            status.update(message)

    try:
        options = parse_settings(settings, 'model', ('model', 'scorer', 'train'))
        train_model_file(records, recipe, output, scorer_name=scorer_name, model_name=model_name, lower=lower,
                         model_options=options['model'], scorer_options=options['scorer'],
                         train_options=options['train'], ensemble=ensemble, seed=seed, progress=progress,
                         **_server_options(workers, parsl_config, redis_url, local))
    except TrainingFailed as exc:
        for failure in exc.failures:
            console.print(f'[red]Training task {failure.index} failed:[/] {failure.summary}', highlight=False,
                          soft_wrap=True)
            if failure.traceback:
                console.print(failure.traceback, highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    except _Abort as exc:
        raise _fail(str(exc)) from None
    except (ExamolError, ValueError, TypeError, FileNotFoundError) as exc:
        raise _fail(str(exc)) from None
    finally:
        if status is not None:
            status.stop()


@app.command()
def score(
    model: Path = typer.Option(..., '--model', help='Model file written by `examol train`.'),
    smiles: Path = typer.Option(..., '--smiles', help='Molecules to score: one SMILES per line (the first field, '
                                'before a space or a comma; blank lines and # comments are skipped).'),
    output: Path = typer.Option(..., '--output', '-o', help='CSV to write: line,smiles,score[,std] in input order. '
                                'An existing file is replaced when the run ends (never the --smiles or --model file).'),
    rejects: Path | None = typer.Option(None, '--rejects', help='CSV of molecules that could not be scored '
                                        '(line,smiles,reason). Default: OUTPUT with suffix .rejects.csv.'),
    chunk_size: int = typer.Option(1000, '--chunk-size', help='Molecules per task.'),
    settings: list[str] = typer.Option([], '--set', help='Option KEY=VALUE passed to the scorer\'s score. Repeat.'),
    retries: int = typer.Option(1, '--retries', help='Times a failed chunk is resubmitted before giving up.'),
    workers: int = _WORKERS,
    parsl_config: Path | None = _PARSL,
    redis_url: str | None = _REDIS,
    local: bool = _LOCAL,
) -> None:
    """Score a SMILES file with a saved model, in chunks across workers; write the scores in input order.

    Molecules that cannot be parsed or featurised go to the rejects file with their line number
    and the reason. If a chunk still fails after --retries, its molecules go there too (with the
    error) and the command exits with status 1.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from examol_core.colmena import score_smiles_file
    from examol_core.errors import ExamolError

    _setup_logging()
    columns = (TextColumn('[progress.description]{task.description}'), BarColumn(), MofNCompleteColumn(),
               TimeRemainingColumn())
    try:
        options = parse_settings(settings, 'score', ('score',))
        server_options = _server_options(workers, parsl_config, redis_url, local)
        with Progress(*columns, console=console, transient=False) as bar:
            task = bar.add_task('Starting the task server', total=None)
            summary = score_smiles_file(
                model, smiles, output, rejects=rejects, chunk_size=chunk_size, retries=retries,
                score_options=options['score'], on_start=lambda: bar.update(task, description='Scoring'),
                progress=lambda p: bar.update(task, completed=p.done, total=p.total), **server_options)
    except _Abort as exc:
        raise _fail(str(exc)) from None
    except (ExamolError, ValueError, FileNotFoundError) as exc:
        raise _fail(str(exc)) from None
    console.print(f'Scored {summary.scored} molecules into {summary.output}; {summary.rejected} rejected '
                  f'(unparsable or unusable) and {summary.failed} in failed chunks, listed in {summary.rejects}',
                  highlight=False, soft_wrap=True)
    for chunk in summary.failed_chunks:
        console.print(f'[red]Chunk {chunk.index} (lines {chunk.first_line}-{chunk.last_line} of {smiles}) failed:[/] '
                      f'{chunk.failure.summary}', highlight=False, soft_wrap=True)
    if summary.stopped:
        console.print(f'[red]Scoring {summary.stopped}.[/]', highlight=False, soft_wrap=True)
    if not summary.ok:
        raise typer.Exit(1)


def _plain_row(table: Table, name: str, value: str) -> None:
    """A table row whose value is shown as is: text from a model file is never read as Rich markup."""
    from rich.text import Text

    table.add_row(name, Text(value))


@app.command('model-info')
def model_info(model: Path = typer.Argument(..., help='Model file written by `examol train`.'),
               as_json: bool = typer.Option(False, '--json', help='Print the manifest as JSON.')) -> None:
    """Show what a model file holds (its manifest), without loading the model."""
    from examol_core.errors import ExamolError
    from examol_core.modelfile import read_manifest

    try:
        manifest = read_manifest(model)
    except (ExamolError, FileNotFoundError) as exc:
        raise _fail(str(exc)) from None
    if as_json:
        print(manifest.model_dump_json(indent=2))
        return
    table = Table(title=str(model), show_header=False)
    _plain_row(table, 'scorer', f'{manifest.scorer.name} {manifest.scorer.options or ""}')
    _plain_row(table, 'plugin', f'{manifest.plugin.distribution} {manifest.plugin.version}')
    _plain_row(table, 'model', f'{manifest.model.name} {manifest.model.options or ""}')
    _plain_row(table, 'recipe', str(manifest.recipe))
    _plain_row(table, 'lower recipes', ', '.join(manifest.lower_recipes) or '-')
    _plain_row(table, 'ensemble', f'{manifest.ensemble.size} member(s)' + (', bootstrap' if manifest.ensemble.bootstrap
                                                                       else ''))
    _plain_row(table, 'created', f'{manifest.created} by examol-core {manifest.examol_core_version} '
                  f'(format {manifest.format} v{manifest.format_version})')
    _plain_row(table, 'training', json.dumps(manifest.training))
    console.print(table)


@app.command()
def demo(
    output_dir: Path = typer.Option(Path('demo-output'), '--output-dir', '-o', help='Where to write report.md, '
                                    'results.json and the plots.'),
    rounds: int | None = typer.Option(None, '--rounds', help='Batches each strategy acquires '
                                      '(default 10; quick 2).'),
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
    scorer_name: str = typer.Option('rdkit', '--scorer', help='Scorer plugin.'),
    model_name: str = typer.Option('knn', '--model', help='Model of that scorer.'),
    settings: list[str] = typer.Option([], '--set', help='Option KEY=VALUE for the model factory (e.g. '
                                       'n_neighbors=4). Repeat.'),
    quick: bool = typer.Option(False, '--quick', help='A tiny campaign (about a minute), for tests.'),
    random_seed: int = typer.Option(0, '--random-seed', help='Seed of the split, the seed set, random picks and '
                                    'bootstrap samples.'),
    workers: int = typer.Option(2, '--workers', help='Local worker processes (ignored with --parsl-config).'),
    parsl_config: Path | None = _PARSL,
) -> None:
    """The main demo: an active-learning campaign with real xTB simulations on a Colmena task server.

    Starting from the project's oxidation-potential data set with the cheap level known everywhere
    and the expensive ones for a small seed set, three strategies (multi-fidelity ensemble + UCB,
    single-fidelity ensemble + UCB, random) run side by side: ensembles are trained and the pool is
    scored on workers, picked molecules are simulated with the `xtb` plugin on workers. Writes a
    Markdown report with plots into --output-dir. Needs the rdkit and xtb plugins and matplotlib.
    """
    from examol_core.demo import DemoSettings, run_demo
    from examol_core.errors import ExamolError

    _setup_logging()
    try:
        options = parse_settings(settings, 'model', ('model',))
        server_options = _server_options(workers, parsl_config, None, False)
        given = {'rounds': rounds, 'batch_size': batch_size, 'seed_size': seed_size, 'test_size': test_size,
                 'pool_size': pool_size, 'ensemble_size': ensemble, 'chunk_size': chunk_size}
        values = {**(DemoSettings.QUICK if quick else {}), **{k: v for k, v in given.items() if v is not None}}
        demo_settings = DemoSettings(**values, acquisition=acquisition, beta=beta, scorer=scorer_name,
                                     model=model_name, model_options=options['model'], workers=workers,
                                     random_seed=random_seed, parsl_config=server_options.get('parsl_config'))
        result, paths = run_demo(demo_settings, output_dir, console=console)
    except _Abort as exc:
        raise _fail(str(exc)) from None
    except (ExamolError, ValueError) as exc:
        raise _fail(str(exc)) from None
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


def main() -> None:
    """Entry point of the ``examol`` script."""
    app()
