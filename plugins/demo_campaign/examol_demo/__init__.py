"""examol-demo: an active-learning campaign on the oxidation-potential data set (``examol demo``).

The cheap level (``gfn1-vertical``) is known for every molecule and the expensive levels for a
small seed set only. A Colmena thinker runs three strategies side by side on one task server —
multi-fidelity ensemble + UCB (or EI), single-fidelity ensemble + UCB, and random picks —
training ensembles and scoring candidates on workers and running xTB simulations for the
molecules each strategy picks. It writes a Markdown report with plots.

The scorer and the simulator are found by name in the plugin registry (``rdkit``/``knn`` and
``xtb`` by default): this package never imports another plugin.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from examol_demo.campaign import run_campaign
from examol_demo.results import CampaignResult
from examol_demo.settings import DemoError, DemoSettings

__all__ = ['DemoSettings', 'DemoError', 'CampaignResult', 'run_campaign', 'run_demo']


def run_demo(settings: DemoSettings, output_dir: str | Path, console: Any = None) -> tuple[CampaignResult, dict]:
    """Run the campaign and write its report into ``output_dir``.

    Returns:
        The campaign's result and the paths written (``report``, ``results``, plots).
    """
    from examol_demo.report import check_plotting, write_report

    check_plotting()  # before the campaign rather than after it
    result = run_campaign(settings, console=console)
    return result, write_report(result, output_dir)
