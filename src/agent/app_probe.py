# The import probe for web-app exports, run as `python -I app_probe.py` in the session's workspace: reads
# {code, search_dirs, extra_dists} as JSON on stdin and prints one JSON line: the app file's imports split into
# standard library, local modules and distributions with their versions, its app object, and whether it runs unguarded.
import ast
import importlib.metadata as md
import json
import os
import sys

_APP_CLASSES = ('Flask', 'FastAPI', 'Starlette', 'Quart')


def _imports(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name.split('.')[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                found.add(node.module.split('.')[0])
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
            if name in ('__import__', 'import_module') and isinstance(node.args[0].value, str):
                if not node.args[0].value.startswith('.'):
                    found.add(node.args[0].value.split('.')[0])
    found.discard('')
    return found


def _app_object(tree: ast.Module) -> str | None:
    for node in tree.body:
        value = getattr(node, 'value', None)
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(value, ast.Call):
            f = value.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if name in _APP_CLASSES:
                for t in targets:
                    if isinstance(t, ast.Name):
                        return t.id
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in ('create_app', 'make_app'):
            return node.name + '()'
    return None


def _unguarded_run(tree: ast.Module) -> bool:
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            f = node.value.func
            if isinstance(f, ast.Attribute) and f.attr == 'run':
                return True
    return False


def _dist_tops(dist: md.Distribution) -> set[str]:
    text = dist.read_text('top_level.txt')
    if text:
        return {line.strip() for line in text.splitlines() if line.strip()}
    tops: set[str] = set()
    for f in dist.files or ():
        parts = f.parts
        if parts and not parts[0].endswith(('.dist-info', '.egg-info')) and parts[0] != '..':
            tops.add(parts[0][:-3] if parts[0].endswith('.py') else parts[0])
    return tops


def _local_module(m: str, dirs: list[str]) -> str | None:
    for d in dirs:
        f = os.path.join(d, m + '.py')
        if os.path.isfile(f):
            return f
        if os.path.isdir(os.path.join(d, m)):
            return os.path.join(d, m)
    return None


def _imports_of_files(path: str, limit: int = 200) -> set[str]:
    files = [path] if os.path.isfile(path) else []
    if os.path.isdir(path):
        for root, subdirs, names in os.walk(path):
            subdirs[:] = [x for x in subdirs if x != '__pycache__']
            files.extend(os.path.join(root, n) for n in names if n.endswith('.py'))
    found: set[str] = set()
    for f in files[:limit]:
        try:
            with open(f, 'rb') as fh:
                found |= _imports(ast.parse(fh.read()))
        except (OSError, SyntaxError, ValueError):
            pass
    return found


def probe_main() -> None:
    req = json.loads(sys.stdin.buffer.read().decode('utf-8', 'surrogatepass'))
    try:
        tree = ast.parse(req.get('code') or '')
    except SyntaxError as e:
        print(json.dumps({'error': {'code': 'syntax_error', 'message': str(e), 'line': e.lineno}}))
        return
    dirs = [os.path.abspath(d) for d in req.get('search_dirs') or []]
    sys.path.extend(d for d in dirs if os.path.isdir(d))  # packages installed into the workspace count as installed
    imports = _imports(tree)
    stdlib = set(sys.stdlib_module_names)
    installed_here: set[str] = set()
    for d in dirs:
        for dist in md.distributions(path=[d]):
            installed_here |= _dist_tops(dist)
    local: list[str] = []
    local_files: list[str] = []
    seen: set[str] = set()
    # A local module's own imports count too (numpy used only by helpers.py is still needed); bounded, in case of
    # cycles.
    for _round in range(50):
        fresh = sorted(imports - stdlib - installed_here - seen)
        if not fresh:
            break
        for m in fresh:
            seen.add(m)
            found = _local_module(m, dirs)
            if found is None:
                continue
            local.append(m)
            local_files.append(os.path.relpath(found))  # relative to the workspace
            imports |= _imports_of_files(found)
    pd = md.packages_distributions()
    dists = {m: sorted(set(pd.get(m, []))) for m in sorted(imports - stdlib - set(local))}
    names = {d for ds in dists.values() for d in ds} | set(req.get('extra_dists') or [])
    versions: dict[str, str] = {}
    for n in sorted(names):
        try:
            versions[n] = md.version(n)
        except md.PackageNotFoundError:
            pass
    print(
        json.dumps(
            {
                'python_version': '{}.{}.{}'.format(*sys.version_info[:3]),
                'imports': sorted(imports),
                'stdlib': sorted(imports & stdlib),
                'local': local,
                'local_files': local_files,
                'dists': dists,
                'versions': versions,
                'app_object': _app_object(tree),
                'unguarded_run': _unguarded_run(tree),
            }
        )
    )


if __name__ == '__main__':
    probe_main()
