"""The package's layers: no module of ``procd_mm`` imports one of a layer above its own, not
even inside a function. From the bottom: ``utils`` (and ``compat``, ``compat_seams``); the
library (``models``, ``datasets``, ``evaluation``); ``engine`` (hooks and wrappers around the
models); the package root (which registers all of them); ``visualization`` and ``apis`` (what
tools, demo and visualisation call)."""
import ast
import os
import os.path as osp

from tests.conftest import REPO

LAYERS = {'utils': 0, 'compat': 0, 'compat_seams': 0, 'models': 1, 'datasets': 1,
          'evaluation': 1, 'engine': 2, '': 3, 'visualization': 4, 'apis': 4}


def area(module: str) -> str:
    parts = module.split('.')
    return parts[1] if len(parts) > 1 else ''


def imports(path: str, module: str, is_package: bool):
    """Every ``procd_mm`` module that ``path`` imports, at any depth of its code."""
    package = module if is_package else module.rsplit('.', 1)[0]
    for node in ast.walk(ast.parse(open(path, encoding='utf-8').read())):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.split('.')[0] == 'procd_mm')
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split('.')[:len(package.split('.')) - node.level + 1]
                target = '.'.join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ''
            if target.split('.')[0] == 'procd_mm':
                yield target


def modules():
    root = osp.join(REPO, 'procd_mm')
    for folder, _, files in os.walk(root):
        for name in files:
            if name.endswith('.py'):
                path = osp.join(folder, name)
                module = osp.relpath(path, REPO)[:-3].replace(os.sep, '.')
                is_package = name == '__init__.py'
                yield path, module[:-len('.__init__')] if is_package else module, is_package


def test_no_module_imports_a_layer_above_its_own():
    seen, upward = 0, []
    for path, module, is_package in modules():
        assert area(module) in LAYERS, f'{module}: add its area to LAYERS'
        for target in imports(path, module, is_package):
            seen += 1
            if LAYERS[area(target)] > LAYERS[area(module)]:
                upward.append(f'{module} -> {target}')
    assert seen > 20  # the walk finds the package's own imports
    assert not upward, upward


def test_the_walk_sees_imports_inside_functions(tmp_path):
    source = tmp_path / 'mod.py'
    source.write_text('def f():\n    from ..apis import build_runner\n    import procd_mm.models\n')
    found = set(imports(str(source), 'procd_mm.utils.mod', False))
    assert found == {'procd_mm.apis', 'procd_mm.models'}


def _message_text(node) -> str:
    """The literal text of an exception's message (the constant parts of an f-string)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return ''.join(_message_text(v) for v in node.values)
    if isinstance(node, ast.BinOp):
        return _message_text(node.left) + _message_text(node.right)
    return ''


def test_the_library_below_apis_speaks_of_config_keys_not_flags():
    """Messages of models, datasets, evaluation, engine and utils name no command-line flag
    (``--resume``, ``--check-config``...): the tools, which have the flags, pass them in."""
    import re
    flagged = []
    for path, module, _ in modules():
        if LAYERS[area(module)] >= 4:
            continue
        for node in ast.walk(ast.parse(open(path, encoding='utf-8').read())):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                text = ' '.join(_message_text(a) for a in node.exc.args)
                if re.search(r'(^|\s)--[a-z]', text):
                    flagged.append(f'{module}: {text[:60]}')
    assert not flagged, flagged
