# Imports a library set into a pooled kernel before it serves, at low priority, leaving nothing in the user's namespace
# and no figure open.
import os
import threading
from collections.abc import Sequence

# What each named set imports, in order. 'scientific' is what a first cell of data work reaches for.
SETS = {
    'scientific': ('numpy', 'pandas', 'matplotlib', 'matplotlib.pyplot'),
}


def run(name: str) -> list[str]:
    """Imports the set called name (unknown names import nothing) and returns the modules that loaded. Blocks: the
    kernel calls it before it says hello, so no request can arrive half-way and no thread is left running when user
    code starts (a fork in the first cell must not inherit an import lock held elsewhere)."""
    modules = SETS.get(name)
    if not modules:
        return []
    loaded: list[str] = []
    worker = threading.Thread(target=_load, args=(modules, loaded), name='sandbox-preload', daemon=True)
    worker.start()
    worker.join()
    return loaded


def _load(modules: Sequence[str], loaded: list[str]) -> None:
    # Linux priorities are per thread: this one runs at the lowest, the thread that serves keeps its own.
    try:
        os.nice(19)
    except OSError:
        pass
    for name in modules:
        try:
            __import__(name)
        except Exception:
            return  # an interpreter without it (a venv, another image): the rest would fail the same way
        loaded.append(name)
    try:
        _warm_up()
    except Exception:
        pass


def _warm_up() -> None:
    """What the first plot and the first table pay once per process besides imports: the Agg backend, font files,
    PNG writing, pandas' HTML formatter. The figure is never given to pyplot, so no figure number is taken."""
    import io

    import pandas
    from matplotlib.figure import Figure

    fig = Figure()
    fig.add_subplot().plot([0, 1], [0, 1])
    fig.savefig(io.BytesIO(), format='png', dpi=100, bbox_inches='tight')
    pandas.DataFrame({'a': [1]})._repr_html_()
