# clear_cache inside kernel.py's process: drops Python's own caches and reports what they held. It must never drop a
# user variable (only the `_` result reference, and only when not important_only) nor the sources of earlier cells,
# which tracebacks of functions defined there still need.
import gc
import importlib
import linecache
import os
import re
import shutil
import sys
import time
from typing import Any

# Folders whose bytecode is not the user's cache: installed packages (rebuilding it slows every import), the agent's
# own state, version control.
SKIP_DIRS = frozenset(('.venv', 'venv', '.sandbox', '.git', 'node_modules', 'site-packages'))
CELL_PREFIX = '<cell-'


def _rss_bytes() -> int | None:
    try:
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
    except (OSError, ValueError, IndexError):
        return None


def _linecache() -> dict[str, Any]:
    keep: dict[str, Any] = {}
    dropped = 0
    size = 0
    for key, entry in list(linecache.cache.items()):
        if isinstance(key, str) and key.startswith(CELL_PREFIX):
            keep[key] = entry
            continue
        dropped += 1
        try:
            size += sum(len(line) for line in entry[2])
        except (TypeError, IndexError):
            pass
    linecache.clearcache()
    linecache.cache.update(keep)
    return {'name': 'linecache (source lines of library files)', 'items': dropped, 'bytes': size}


def _regex() -> dict[str, Any]:
    cache = getattr(re, '_cache', None)
    n = len(cache) if isinstance(cache, dict) else 0
    re.purge()
    return {'name': 're compiled-pattern cache', 'items': n, 'bytes': None}


def _import_caches() -> dict[str, Any]:
    n = len(sys.path_importer_cache)
    importlib.invalidate_caches()
    return {'name': 'import finder caches (importlib.invalidate_caches)', 'items': n, 'bytes': None}


def _figures() -> dict[str, Any]:
    plt = sys.modules.get('matplotlib.pyplot')
    if plt is None:
        return {'name': 'matplotlib figures', 'items': 0, 'bytes': None}
    n = len(plt.get_fignums())
    plt.close('all')
    return {'name': 'matplotlib figures', 'items': n, 'bytes': None}


def _last_result(ns: dict[str, Any]) -> dict[str, Any]:
    had = '_' in ns
    ns.pop('_', None)
    return {'name': "last result reference '_'", 'items': 1 if had else 0, 'bytes': None}


def _pycache(workspace: str) -> dict[str, Any]:
    dirs = 0
    size = 0
    for root, subdirs, _files in os.walk(workspace):
        keep = []
        for d in subdirs:
            if d == '__pycache__':
                path = os.path.join(root, d)
                if os.path.islink(path):
                    continue
                for froot, _fd, ffiles in os.walk(path):
                    for name in ffiles:
                        try:
                            size += os.lstat(os.path.join(froot, name)).st_size
                        except OSError:
                            pass
                shutil.rmtree(path, ignore_errors=True)
                dirs += 1
            elif d not in SKIP_DIRS:
                keep.append(d)
        subdirs[:] = keep
    return {'name': '__pycache__ folders in the workspace', 'items': dirs, 'bytes': size}


def clear(ns: dict[str, Any], workspace: str, important_only: bool) -> dict[str, Any]:
    """Returns the report the agent relays as the request's final message."""
    t0 = time.perf_counter()
    rss0 = _rss_bytes()
    cleared = [_import_caches(), _linecache(), _regex()]
    if not important_only:
        cleared.append(_figures())
        cleared.append(_last_result(ns))
        cleared.append(_pycache(workspace))
        n = gc.collect()
        cleared.append({'name': 'garbage collector (unreachable objects freed)', 'items': n, 'bytes': None})
    rss1 = _rss_bytes()
    return {
        'important_only': bool(important_only),
        'cleared': cleared,
        'bytes_freed': sum(c['bytes'] or 0 for c in cleared),
        'rss_before_bytes': rss0,
        'rss_after_bytes': rss1,
        'duration_ms': round((time.perf_counter() - t0) * 1000, 3),
    }
