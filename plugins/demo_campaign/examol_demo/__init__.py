"""examol-demo: an active-learning campaign on the oxidation-potential data set (``examol demo``).

The cheap level is known for every molecule, the expensive ones for a small seed set. One Colmena
thinker runs three strategies side by side (multi-fidelity ensemble + UCB or EI, single-fidelity,
random picks) that train, score and simulate on workers; a Markdown report with plots follows. The
scorer and simulator are found by name in the plugin registry: this package imports no other plugin.
"""
from __future__ import annotations

from examol_demo.campaign import run_campaign, run_demo
from examol_demo.results import CampaignResult
from examol_demo.settings import DemoError, DemoSettings

__all__ = ['DemoSettings', 'DemoError', 'CampaignResult', 'run_campaign', 'run_demo']
