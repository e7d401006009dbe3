# Notebook-style rich display: MIME bundles of values, the display() builtin, and images saved as workspace files.
from __future__ import annotations

import base64
import io
import os
import sys

from .kernel_channel import send

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

_MIME_METHODS = (
    ('_repr_html_', 'text/html'),
    ('_repr_markdown_', 'text/markdown'),
    ('_repr_svg_', 'image/svg+xml'),
    ('_repr_png_', 'image/png'),
    ('_repr_jpeg_', 'image/jpeg'),
    ('_repr_json_', 'application/json'),
    ('_repr_latex_', 'text/latex'),
)
_BINARY_MIME = frozenset(('image/png', 'image/jpeg'))
_SVG = 'image/svg+xml'  # XML text: bytes for it are decoded, not base64-encoded, as in nbformat
_PLAIN_TYPES = frozenset((int, float, complex, bool, str, bytes, bytearray, list, tuple, dict, set, frozenset, range))

_PNG_DPI = 100
# One file per displayed image: the first of these the bundle has.
_IMAGE_FILES = (('image/png', 'png'), ('image/jpeg', 'jpg'), (_SVG, 'svg'))

try:
    _WORKSPACE = os.path.abspath(os.environ.get('SANDBOX_WORKSPACE') or os.getcwd())
except OSError:
    _WORKSPACE = None


class _Cell:
    """The running cell as its outputs see it: request id, execution count, per-prefix file
    numbers, and the figures already sent (so the end of the cell does not send them again)."""

    def __init__(self) -> None:
        self.rid: Any = None
        self.count = 0
        self.seq: dict[str, int] = {}
        self.shown: dict[int, Any] = {}  # id(figure) -> figure; holding the figure keeps the id unique


cell = _Cell()


def mime_bundle(obj: object) -> tuple[dict[str, Any], dict[str, Any]]:
    """Notebook-style rich representations of obj, always with text/plain; an image in it is
    also saved as a workspace file, named in metadata['filename']."""
    data: dict[str, Any] = {}
    metadata: dict[str, Any] = {}
    if type(obj) not in _PLAIN_TYPES and not isinstance(obj, type):
        mods = sys.modules
        if 'matplotlib.figure' in mods and isinstance(obj, mods['matplotlib.figure'].Figure) and has_content(obj):
            try:
                return figure_output(obj)
            except Exception as e:
                _warn_repr(obj, 'savefig', e)
        mb = _safe_method(obj, '_repr_mimebundle_')
        if mb is not None:
            try:
                r = mb()
            except Exception as e:
                _warn_repr(obj, '_repr_mimebundle_', e)
                r = None
            if isinstance(r, tuple) and len(r) == 2:
                r, md = r
                if isinstance(md, dict):
                    metadata.update(md)
            if isinstance(r, dict):
                for mime, value in r.items():
                    data[mime] = _encode_mime(mime, value)
        for meth, mime in _MIME_METHODS:
            if mime in data:
                continue
            f = _safe_method(obj, meth)
            if f is None:
                continue
            try:
                r = f()
            except Exception as e:
                _warn_repr(obj, meth, e)
                continue
            if isinstance(r, tuple) and len(r) == 2:
                r, md = r
                if isinstance(md, dict):
                    metadata[mime] = md
            if r is None:
                continue
            data[mime] = _encode_mime(mime, r)
        if 'PIL.Image' in mods and isinstance(obj, mods['PIL.Image'].Image):
            _save_bundle_image(data, metadata, 'image', 'pil')
        else:
            _save_bundle_image(data, metadata, 'display', 'display')
    if 'text/plain' not in data:
        data['text/plain'] = repr(obj)
    return data, metadata


def _safe_method(obj: object, name: str) -> Callable[[], Any] | None:
    try:
        f = getattr(obj, name, None)
    except Exception:
        return None
    # Objects whose __getattr__ answers every name (mocks, proxies) must not pass as rich.
    return f if callable(f) and not isinstance(f, type) else None


def _encode_mime(mime: Any, value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        if mime in _BINARY_MIME or not (mime.startswith('text/') or mime == _SVG):
            return base64.b64encode(bytes(value)).decode('ascii')
        return bytes(value).decode('utf-8', 'replace')
    return value


def _warn_repr(obj: object, meth: str, e: Exception) -> None:
    try:
        sys.stderr.write(f'{type(obj).__name__}.{meth} failed: {type(e).__name__}: {e!s}\n')
    except Exception:
        pass


class _Display:
    """display(*objs): send each object's rich representation as display_data, as in a notebook."""

    def __call__(
        self, *objs: object, raw: bool = False, metadata: dict[str, Any] | None = None, **_ignored: object
    ) -> None:
        flush_std()
        for obj in objs:
            if raw and isinstance(obj, dict):
                data, md = obj, {}
                _save_bundle_image(data, md, 'display', 'display')
            else:
                data, md = mime_bundle(obj)
            if metadata:
                md = dict(md, **metadata)
            send({'type': 'display_data', 'id': cell.rid, 'data': data, 'metadata': md})

    def __repr__(self) -> str:
        return '<function display>'


display = _Display()


def flush_std() -> None:
    for s in (sys.stdout, sys.stderr):
        try:
            s.flush()
        except Exception:
            pass


def warn(msg: str) -> None:
    try:
        sys.stderr.write(msg + '\n')
    except Exception:
        pass


# --- images become workspace files ----------------------------------------------


def save_file(folder: str, prefix: str, ext: str, payload: bytes, md: dict[str, Any]) -> None:
    """Writes payload to <workspace>/<folder>/<prefix>_<count>_<n>.<ext> and names it in md.
    A full disk or read-only workspace costs the file, never the display."""
    seq = cell.seq
    n = seq[prefix] = seq.get(prefix, 0) + 1
    rel = f'{folder}/{prefix}_{cell.count:d}_{n:d}.{ext}'
    if _WORKSPACE is None:
        return
    try:
        os.makedirs(os.path.join(_WORKSPACE, folder), exist_ok=True)
        with open(os.path.join(_WORKSPACE, rel), 'wb') as f:
            f.write(payload)
    except OSError as e:
        warn(f'could not save {rel}: {e!s}')
        return
    md['filename'] = rel


def _save_bundle_image(data: dict[Any, Any], md: dict[str, Any], prefix: str, source: str) -> None:
    for mime, ext in _IMAGE_FILES:
        value = data.get(mime)
        if value is None:
            continue
        if not isinstance(value, str):
            return  # not what a bundle should hold (a raw display): sent as it is, unsaved
        try:
            payload = value.encode('utf-8', 'surrogatepass') if mime == _SVG else base64.b64decode(value)
        except ValueError:
            return
        md['source'] = source
        save_file('images', prefix, ext, payload, md)
        return


# --- matplotlib figures --------------------------------------------------------


def figure_output(fig: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(data, metadata) of a matplotlib figure rendered as PNG and saved under plots/."""
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=_PNG_DPI, bbox_inches='tight')
    png = buf.getvalue()
    md: dict[str, Any] = {'source': 'matplotlib'}
    save_file('plots', 'figure', 'png', png, md)
    cell.shown[id(fig)] = fig
    try:
        text = repr(fig)
    except Exception:
        text = '<Figure>'
    return {'image/png': base64.b64encode(png).decode('ascii'), 'text/plain': text}, md


def has_content(fig: Any) -> bool:
    # plt.figure() alone has only its background patch; a notebook shows no image for it.
    return bool(fig.axes) or len(fig.get_children()) > 1
