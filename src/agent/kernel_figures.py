# Output capture for matplotlib and PIL: open or shown figures and Image.show() become display_data and workspace files.
from __future__ import annotations

import base64
import functools
import io
import sys

from .kernel_channel import send
from .kernel_display import cell, figure_output, flush_std, has_content, save_file, warn

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from importlib.machinery import ModuleSpec
    from types import ModuleType
    from typing import Any


def flush_figures(plt: ModuleType, status: str) -> None:
    """Sends every open pyplot figure and closes it, as a notebook's inline backend does at the
    end of a cell and on plt.show(). After an interrupt they are closed unrendered: the agent is
    waiting out its grace period, and a slow render there would cost the kernel its state."""
    helpers = sys.modules.get('matplotlib._pylab_helpers')
    if helpers is None:
        return
    managers = helpers.Gcf.get_all_fig_managers()
    if not managers:
        return
    figs = [m.canvas.figure for m in sorted(managers, key=lambda m: m.num)]
    try:
        if status != 'interrupted':
            shown = cell.shown
            for fig in figs:
                if id(fig) in shown or not has_content(fig):
                    continue
                try:
                    data, md = figure_output(fig)
                except Exception as e:
                    # Typically a draw-time error such as bad mathtext in a label.
                    warn(f'Figure {fig.number!s} could not be rendered: {type(e).__name__}: {e!s}')
                    continue
                flush_std()
                send({'type': 'display_data', 'id': cell.rid, 'data': data, 'metadata': md})
    finally:
        for fig in figs:
            try:
                plt.close(fig)
            except Exception:
                pass


def _patch_pyplot(plt: ModuleType) -> None:
    orig = plt.show
    if getattr(orig, '_sandbox_capture', False):
        return

    @functools.wraps(orig)
    def show(*args: object, **kwargs: object) -> None:
        # Agg cannot show anything, so the original is not called (nor is it in a notebook).
        flush_figures(plt, 'ok')

    show._sandbox_capture = True
    plt.show = show


def _patch_imageshow(ImageShow: ModuleType) -> None:
    viewers = getattr(ImageShow, '_viewers', None)
    mine = getattr(ImageShow, '_sandbox_viewer', None)
    if mine is not None and (viewers is None or mine in viewers):
        return

    class WorkspaceViewer(ImageShow.Viewer):
        """Image.show() saves under images/ and sends display_data instead of starting a desktop viewer."""

        format = 'PNG'

        def show_image(self, image: Any, **options: Any) -> int:
            buf = io.BytesIO()
            image.save(buf, format='PNG')
            png = buf.getvalue()
            md: dict[str, Any] = {'source': 'pil'}
            title = options.get('title')
            if title:
                md['title'] = str(title)
            save_file('images', 'image', 'png', png, md)
            flush_std()
            send({
                'type': 'display_data',
                'id': cell.rid,
                'data': {'image/png': base64.b64encode(png).decode('ascii'), 'text/plain': repr(image)},
                'metadata': md,
            })
            return 1

    mine = WorkspaceViewer()
    ImageShow.register(mine, order=-1)  # first, so no desktop viewer is ever tried
    ImageShow._sandbox_viewer = mine


# Patched as soon as they are imported, so `from matplotlib.pyplot import show` and a show()
# in the very cell that imports them already capture.
_IMPORT_PATCHES: dict[str, Callable[[ModuleType], None]] = {
    'matplotlib.pyplot': _patch_pyplot,
    'PIL.ImageShow': _patch_imageshow,
}


def _apply_patch(patch: Callable[[ModuleType], None], module: ModuleType) -> None:
    try:
        patch(module)
    except Exception as e:
        warn(f'could not set up output capture for {module.__name__!s}: {type(e).__name__}: {e!s}')


class _PostImportPatcher:
    """First on sys.meta_path. For the modules in _IMPORT_PATCHES it lets the other finders find
    the module and wraps the loader's exec_module so the patch runs before the importer gets it;
    every other import costs one dict lookup, and imports already in sys.modules nothing."""

    @staticmethod
    def find_spec(name: str, path: Sequence[str] | None = None, target: ModuleType | None = None) -> ModuleSpec | None:
        patch = _IMPORT_PATCHES.get(name)
        if patch is None:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, 'find_spec', None)
            if finder is _PostImportPatcher or find is None:
                continue
            spec = find(name, path, target)
            if spec is not None:
                break
        else:
            return None
        run = getattr(spec.loader, 'exec_module', None)
        if run is not None:

            def exec_module(module: ModuleType) -> None:
                run(module)
                _apply_patch(patch, module)

            try:
                spec.loader.exec_module = exec_module  # a fresh loader per spec: nothing shared changes
            except (AttributeError, TypeError):
                pass  # the post-cell hook patches it once the cell ends
        return spec


def install_capture(post_cell_hooks: list[Callable[[dict[str, Any], str], None]]) -> None:
    """Puts the import patcher first on sys.meta_path and the figure flush among the post-cell hooks."""
    sys.meta_path.insert(0, _PostImportPatcher)
    post_cell_hooks.append(_capture_post_cell)


def _capture_post_cell(ns: dict[str, Any], status: str) -> None:
    # The common cell has neither module loaded: two dict lookups and an empty-dict test.
    mods = sys.modules
    try:
        plt = mods.get('matplotlib.pyplot')
        if plt is not None:
            show = plt.show
            # Left unpatched only if the import went around the finder (or a reload); a show()
            # the user put there is theirs.
            if not getattr(show, '_sandbox_capture', False):
                if getattr(show, '__module__', None) == 'matplotlib.pyplot':
                    _apply_patch(_patch_pyplot, plt)
            flush_figures(plt, status)
        imageshow = mods.get('PIL.ImageShow')
        if imageshow is not None and getattr(imageshow, '_sandbox_viewer', None) is None:
            _apply_patch(_patch_imageshow, imageshow)
    finally:
        if cell.shown:
            cell.shown.clear()
