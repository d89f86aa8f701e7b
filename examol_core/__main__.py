"""``python -m examol_core`` runs the ``examol`` command."""
from examol_core.cli import main

main()
