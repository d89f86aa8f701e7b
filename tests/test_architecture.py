"""Rules of the code base that a reviewer would otherwise have to check by eye."""
from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).parents[1] / 'examol_core'


def _foreign_private_uses(path: Path) -> list[str]:
    """``obj._name`` where ``obj`` is not ``self``/``cls``: reaching into another object's private state."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Attribute) or not node.attr.startswith('_') or node.attr.startswith('__'):
            continue
        owner = node.value
        if isinstance(owner, ast.Name) and owner.id in ('self', 'cls'):
            continue
        if isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name) and owner.func.id == 'super':
            continue
        found.append(f'{path.relative_to(CORE.parent)}:{node.lineno}: {ast.unparse(node)}')
    return found


def test_objects_do_not_touch_each_others_private_state():
    """One owner for each piece of state: a missing method, not a write into another object's attributes."""
    found = [use for path in sorted((CORE / 'colmena').glob('*.py')) for use in _foreign_private_uses(path)]
    assert found == []
