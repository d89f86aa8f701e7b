"""The live display of ``examol demo`` (rich): a bar per strategy, one for simulations, task counts."""
from __future__ import annotations

from collections import Counter
from typing import Any

from examol_demo.results import StrategyResult

__all__ = ['ProgressDisplay']


class ProgressDisplay:
    """A context manager; give :meth:`event` to the thinker as its ``progress`` callback. Shows nothing
    without a console."""

    def __init__(self, console: Any, rounds: int):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(TextColumn('{task.description:<34}'), BarColumn(bar_width=24), MofNCompleteColumn(),
                                 TextColumn('{task.fields[status]}'), TimeElapsedColumn(), console=console,
                                 refresh_per_second=4, disable=console is None)
        self.bars = {key: self.progress.add_task(key, total=rounds, status='') for key in ('multi', 'single', 'random')}
        self.sims = self.progress.add_task('xTB simulations (unique molecules)', total=0, status='')
        self.tasks = self.progress.add_task('tasks done', total=None, status='')
        self.counts: Counter[str] = Counter()

    def __enter__(self) -> ProgressDisplay:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def status(self, text: str) -> None:
        """Show what the campaign is doing (starting the task server, running, stopping)."""
        self.progress.update(self.tasks, status=text)

    def event(self, kind: str, value: Any) -> None:
        """Show a strategy's progress (a :class:`StrategyResult`), a task back (its topic), or simulations asked for."""
        if kind == 'strategy':
            result: StrategyResult = value
            last, mae = result.history[-1], next((h.mae for h in reversed(result.history) if h.mae is not None), None)
            status = f'best {last.best:.3f} eV' + ('' if mae is None else f', MAE {mae:.3f} eV')
            self.progress.update(self.bars[result.key], description=result.label, completed=last.round,
                                 status=status + (' [green]done[/]' if result.finished else ''))
        elif kind == 'simulations':
            self.progress.update(self.sims, total=value)
        elif kind == 'task':
            self.counts[value] += 1
            if value == 'simulate':
                self.progress.advance(self.sims)
            self.progress.update(self.tasks, advance=1, status=', '.join(
                f'{topic} {self.counts[topic]}' for topic in ('train', 'score', 'simulate')))
