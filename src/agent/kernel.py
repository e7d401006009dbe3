# Persistent Python namespace: runs each request's code like a notebook cell; speaks JSON lines with the server over the lane socket agent.py passes it.
import ast
import base64
import builtins
import fcntl
import functools
import io
import json
import linecache
import os
import resource
import signal
import struct
import sys
import termios
import tokenize
import traceback
import types

# Requests are read from REQ_FD and events written to EV_FD: both are the one lane socket agent.py passes on argv
# (docs/AGENT_PROTOCOL.md), moved to a high descriptor so a cell closing fds 3 and 4 does not cut the kernel off.
REQ_FD = EV_FD = -1
LANE_MIN_FD = 64

KERNEL_FILE = os.path.abspath(__file__)
KERNEL_PID = os.getpid()


def _load_sibling(name):
    # A private module name, so a workspace file called e.g. caches.py still imports as the user's own.
    import importlib.util

    spec = importlib.util.spec_from_file_location('_sandbox_' + name, os.path.join(os.path.dirname(KERNEL_FILE), name + '.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_caches = _load_sibling('caches')  # clear_cache; loaded now, before the workspace is on sys.path

CO_COROUTINE = 0x80
FLAG_TOP_LEVEL_AWAIT = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT

# Run after every cell as hook(namespace, status), whatever the status; they sit on every cell's
# path, so each must cost next to nothing when it has nothing to do.
_post_cell_hooks = []

_running = False  # SIGINT only raises while user code runs
_sending = False  # ... and never in the middle of an event line
_int_pending = False

# ASCII-only lines keep lone surrogates from user strings valid on the pipe; NaN is not JSON.
_dumps = json.JSONEncoder(ensure_ascii=True, allow_nan=False, default=repr, separators=(',', ':')).encode
_loads = json.loads
_getrusage = resource.getrusage
_RU_SELF = resource.RUSAGE_SELF
_RU_CHILDREN = resource.RUSAGE_CHILDREN

# Well-known import names whose PyPI distribution is called something else.
_PYPI_NAMES = {
    'sklearn': 'scikit-learn',
    'cv2': 'opencv-python-headless',
    'PIL': 'pillow',
    'yaml': 'pyyaml',
    'bs4': 'beautifulsoup4',
    'skimage': 'scikit-image',
    'dateutil': 'python-dateutil',
    'Crypto': 'pycryptodome',
    'dotenv': 'python-dotenv',
    'docx': 'python-docx',
    'pptx': 'python-pptx',
    'serial': 'pyserial',
    'attr': 'attrs',
    'jwt': 'pyjwt',
    'magic': 'python-magic',
    'fitz': 'pymupdf',
    'Bio': 'biopython',
    'google.protobuf': 'protobuf',
}

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


def _setup_fds(lane):
    global REQ_FD, EV_FD
    try:
        REQ_FD = EV_FD = fcntl.fcntl(lane, fcntl.F_DUPFD_CLOEXEC, LANE_MIN_FD)
    except OSError:  # RLIMIT_NOFILE at or below LANE_MIN_FD
        REQ_FD = EV_FD = fcntl.fcntl(lane, fcntl.F_DUPFD_CLOEXEC, 3)
    os.close(lane)
    os.set_blocking(EV_FD, True)


def _unread_output():
    """Bytes written to fds 1 and 2 that the server has not read yet (SIOCOUTQ of its sockets), or None when a cell
    pointed either somewhere else: with 0 the server need not wait for more output before ending the cell."""
    total = 0
    for fd in (1, 2):
        try:
            total += struct.unpack('i', fcntl.ioctl(fd, termios.TIOCOUTQ, b'\0\0\0\0'))[0]
        except OSError:
            return None
    return total


def _on_sigint(signum, frame):
    global _int_pending
    if _running:
        if _sending:
            _int_pending = True
        else:
            raise KeyboardInterrupt


def send(obj):
    global _sending, _int_pending
    if os.getpid() != KERNEL_PID:
        return  # a forked child of user code must not speak for the kernel
    try:
        line = _dumps(obj)
    except ValueError:  # NaN or a cycle in some _repr_json_ output
        line = _dumps(_json_safe(obj, 0))
    data = memoryview((line + '\n').encode('ascii'))
    _sending = True
    try:
        while data:
            data = data[os.write(EV_FD, data):]
    except OSError:
        # User code closed or replaced the lane: the kernel can never answer again, so it ends and is replaced.
        os._exit(70)
    finally:
        _sending = False
    if _int_pending and _running:
        _int_pending = False
        raise KeyboardInterrupt


def _json_safe(o, depth):
    if depth > 50:
        return repr(o)
    if isinstance(o, float):
        return o if o == o and o not in (float('inf'), float('-inf')) else None
    if isinstance(o, dict):
        return {str(k): _json_safe(v, depth + 1) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_json_safe(v, depth + 1) for v in o]
    if o is None or isinstance(o, (str, int, bool)):
        return o
    return repr(o)


def mime_bundle(obj):
    """Notebook-style rich representations of obj, always with text/plain; an image in it is
    also saved as a workspace file, named in metadata['filename']."""
    data = {}
    metadata = {}
    if type(obj) not in _PLAIN_TYPES and not isinstance(obj, type):
        mods = sys.modules
        if 'matplotlib.figure' in mods and isinstance(obj, mods['matplotlib.figure'].Figure) and _has_content(obj):
            try:
                return _figure_output(obj)
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


def _safe_method(obj, name):
    try:
        f = getattr(obj, name, None)
    except Exception:
        return None
    # Objects whose __getattr__ answers every name (mocks, proxies) must not pass as rich.
    return f if callable(f) and not isinstance(f, type) else None


def _encode_mime(mime, value):
    if isinstance(value, (bytes, bytearray, memoryview)):
        if mime in _BINARY_MIME or not (mime.startswith('text/') or mime == _SVG):
            return base64.b64encode(bytes(value)).decode('ascii')
        return bytes(value).decode('utf-8', 'replace')
    return value


def _warn_repr(obj, meth, e):
    try:
        sys.stderr.write('%s.%s failed: %s: %s\n' % (type(obj).__name__, meth, type(e).__name__, e))
    except Exception:
        pass


class _Display:
    """display(*objs): send each object's rich representation as display_data, as in a notebook."""

    def __call__(self, *objs, raw=False, metadata=None, **_ignored):
        _flush_std()
        for obj in objs:
            if raw and isinstance(obj, dict):
                data, md = obj, {}
                _save_bundle_image(data, md, 'display', 'display')
            else:
                data, md = mime_bundle(obj)
            if metadata:
                md = dict(md, **metadata)
            send({'type': 'display_data', 'id': _cell.rid, 'data': data, 'metadata': md})

    def __repr__(self):
        return '<function display>'


_display = _Display()


def _flush_std():
    for s in (sys.stdout, sys.stderr):
        try:
            s.flush()
        except Exception:
            pass


# --- rich outputs: figures and images become display_data and workspace files -------------


class _Cell:
    """The running cell as its outputs see it: request id, execution count, per-prefix file
    numbers, and the figures already sent (so the end of the cell does not send them again)."""

    def __init__(self):
        self.rid = None
        self.count = 0
        self.seq = {}
        self.shown = {}  # id(figure) -> figure; holding the figure keeps the id unique


_cell = _Cell()

try:
    _WORKSPACE = os.path.abspath(os.environ.get('SANDBOX_WORKSPACE') or os.getcwd())
except OSError:
    _WORKSPACE = None

_PNG_DPI = 100
# One file per displayed image: the first of these the bundle has.
_IMAGE_FILES = (('image/png', 'png'), ('image/jpeg', 'jpg'), (_SVG, 'svg'))


def _save_file(folder, prefix, ext, payload, md):
    """Writes payload to <workspace>/<folder>/<prefix>_<count>_<n>.<ext> and names it in md.
    A full disk or read-only workspace costs the file, never the display."""
    seq = _cell.seq
    n = seq[prefix] = seq.get(prefix, 0) + 1
    rel = '%s/%s_%d_%d.%s' % (folder, prefix, _cell.count, n, ext)
    if _WORKSPACE is None:
        return
    try:
        os.makedirs(os.path.join(_WORKSPACE, folder), exist_ok=True)
        with open(os.path.join(_WORKSPACE, rel), 'wb') as f:
            f.write(payload)
    except OSError as e:
        _warn('could not save %s: %s' % (rel, e))
        return
    md['filename'] = rel


def _save_bundle_image(data, md, prefix, source):
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
        _save_file('images', prefix, ext, payload, md)
        return


def _warn(msg):
    try:
        sys.stderr.write(msg + '\n')
    except Exception:
        pass


def _figure_output(fig):
    """(data, metadata) of a matplotlib figure rendered as PNG and saved under plots/."""
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=_PNG_DPI, bbox_inches='tight')
    png = buf.getvalue()
    md = {'source': 'matplotlib'}
    _save_file('plots', 'figure', 'png', png, md)
    _cell.shown[id(fig)] = fig
    try:
        text = repr(fig)
    except Exception:
        text = '<Figure>'
    return {'image/png': base64.b64encode(png).decode('ascii'), 'text/plain': text}, md


def _has_content(fig):
    # plt.figure() alone has only its background patch; a notebook shows no image for it.
    return bool(fig.axes) or len(fig.get_children()) > 1


def _flush_figures(plt, status):
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
            shown = _cell.shown
            for fig in figs:
                if id(fig) in shown or not _has_content(fig):
                    continue
                try:
                    data, md = _figure_output(fig)
                except Exception as e:
                    # Typically a draw-time error such as bad mathtext in a label.
                    _warn('Figure %s could not be rendered: %s: %s' % (fig.number, type(e).__name__, e))
                    continue
                _flush_std()
                send({'type': 'display_data', 'id': _cell.rid, 'data': data, 'metadata': md})
    finally:
        for fig in figs:
            try:
                plt.close(fig)
            except Exception:
                pass


def _patch_pyplot(plt):
    orig = plt.show
    if getattr(orig, '_sandbox_capture', False):
        return

    @functools.wraps(orig)
    def show(*args, **kwargs):
        # Agg cannot show anything, so the original is not called (nor is it in a notebook).
        _flush_figures(plt, 'ok')

    show._sandbox_capture = True
    plt.show = show


def _patch_imageshow(ImageShow):
    viewers = getattr(ImageShow, '_viewers', None)
    mine = getattr(ImageShow, '_sandbox_viewer', None)
    if mine is not None and (viewers is None or mine in viewers):
        return

    class WorkspaceViewer(ImageShow.Viewer):
        """Image.show() saves under images/ and sends display_data instead of starting a desktop viewer."""

        format = 'PNG'

        def show_image(self, image, **options):
            buf = io.BytesIO()
            image.save(buf, format='PNG')
            png = buf.getvalue()
            md = {'source': 'pil'}
            title = options.get('title')
            if title:
                md['title'] = str(title)
            _save_file('images', 'image', 'png', png, md)
            _flush_std()
            send({
                'type': 'display_data',
                'id': _cell.rid,
                'data': {'image/png': base64.b64encode(png).decode('ascii'), 'text/plain': repr(image)},
                'metadata': md,
            })
            return 1

    mine = WorkspaceViewer()
    ImageShow.register(mine, order=-1)  # first, so no desktop viewer is ever tried
    ImageShow._sandbox_viewer = mine


# Patched as soon as they are imported, so `from matplotlib.pyplot import show` and a show()
# in the very cell that imports them already capture.
_IMPORT_PATCHES = {'matplotlib.pyplot': _patch_pyplot, 'PIL.ImageShow': _patch_imageshow}


def _apply_patch(patch, module):
    try:
        patch(module)
    except Exception as e:
        _warn('could not set up output capture for %s: %s: %s' % (module.__name__, type(e).__name__, e))


class _PostImportPatcher:
    """First on sys.meta_path. For the modules in _IMPORT_PATCHES it lets the other finders find
    the module and wraps the loader's exec_module so the patch runs before the importer gets it;
    every other import costs one dict lookup, and imports already in sys.modules nothing."""

    @staticmethod
    def find_spec(name, path=None, target=None):
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

            def exec_module(module):
                run(module)
                _apply_patch(patch, module)

            try:
                spec.loader.exec_module = exec_module  # a fresh loader per spec: nothing shared changes
            except (AttributeError, TypeError):
                pass  # the post-cell hook patches it once the cell ends
        return spec


def _install_capture():
    sys.meta_path.insert(0, _PostImportPatcher)
    _post_cell_hooks.append(_capture_post_cell)


def _capture_post_cell(ns, status):
    # The common cell has neither module loaded: two dict lookups and an empty-dict test.
    mods = sys.modules
    try:
        plt = mods.get('matplotlib.pyplot')
        if plt is not None:
            show = plt.show
            # Left unpatched only if the import went around the finder (or a reload); a show()
            # the user put there is theirs.
            if not getattr(show, '_sandbox_capture', False) and getattr(show, '__module__', None) == 'matplotlib.pyplot':
                _apply_patch(_patch_pyplot, plt)
            _flush_figures(plt, status)
        imageshow = mods.get('PIL.ImageShow')
        if imageshow is not None and getattr(imageshow, '_sandbox_viewer', None) is None:
            _apply_patch(_patch_imageshow, imageshow)
    finally:
        if _cell.shown:
            _cell.shown.clear()


class Kernel:
    def __init__(self):
        self.module = types.ModuleType('__main__')
        self.ns = self.module.__dict__
        self.ns['__builtins__'] = builtins
        # Functions defined in cells must be picklable by reference, as in a notebook.
        self._own_main = sys.modules.get('__main__')
        sys.modules['__main__'] = self.module
        builtins.display = _display
        self.future_flags = 0
        self.count = 0
        self.loop = None

    # --- compiling -------------------------------------------------------------

    def compile_cell(self, code, filename):
        """(exec code object, eval code object or None, suppress display) or raise SyntaxError."""
        flags = self.future_flags | FLAG_TOP_LEVEL_AWAIT
        tree = compile(code, filename, 'exec', ast.PyCF_ONLY_AST | flags, True)
        body = tree.body
        expr = None
        suppress = False
        if body and isinstance(body[-1], ast.Expr):
            last = body.pop()
            expr = compile(ast.Expression(last.value), filename, 'eval', flags, True)
            suppress = _ends_with_semicolon(code, last)
        mod = compile(tree, filename, 'exec', flags, True) if body else None
        if mod is not None:
            self.future_flags |= mod.co_flags & _FUTURE_MASK
        return mod, expr, suppress

    # --- running ---------------------------------------------------------------

    def execute(self, req):
        """Run one cell; returns (status, error)."""
        global _running, _int_pending
        rid = req.get('id')
        code = req.get('code', '')
        count = req.get('execution_count')
        if not isinstance(count, int):
            count = self.count + 1
        self.count = count
        filename = '<cell-%d>' % count
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        _cell.rid = rid
        _cell.count = count
        if _cell.seq:
            _cell.seq.clear()
        try:
            mod, expr, suppress = self.compile_cell(code, filename)
        except (SyntaxError, ValueError) as e:
            return 'error', syntax_error_info(code, e)
        status = 'ok'
        error = None
        exit_code = 0  # only used by a forked child
        ns = self.ns
        _int_pending = False
        try:
            try:
                _running = True
                if mod is not None:
                    r = eval(mod, ns)
                    if mod.co_flags & CO_COROUTINE:
                        self.run_async(r)
                if expr is not None:
                    value = eval(expr, ns)
                    if expr.co_flags & CO_COROUTINE:
                        value = self.run_async(value)
                    if value is not None:
                        ns['_'] = value
                        if not suppress:
                            _flush_std()
                            data, md = mime_bundle(value)
                            send({'type': 'execute_result', 'id': rid, 'execution_count': count, 'data': data, 'metadata': md})
            except KeyboardInterrupt:
                status = 'interrupted'
            except SystemExit as e:
                if e.code not in (None, 0):
                    exit_code = e.code if isinstance(e.code, int) else 1
                    status, error = 'error', runtime_error_info(e, filename)
            except BaseException as e:
                exit_code = 1
                status, error = 'error', runtime_error_info(e, filename)
            if os.getpid() != KERNEL_PID:
                _flush_std()
                os._exit(exit_code)  # the child of a bare os.fork() in the cell ends here
            for hook in _post_cell_hooks:
                try:
                    hook(ns, status)
                except KeyboardInterrupt:
                    raise
                except BaseException as e:
                    sys.stderr.write('post-cell hook failed: %s: %s\n' % (type(e).__name__, e))
        except KeyboardInterrupt:
            status = 'interrupted'
        finally:
            _running = False
        return status, error

    def run_async(self, coro):
        import asyncio

        if self.loop is None or self.loop.is_closed():
            self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        return self.loop.run_until_complete(coro)

    def info(self):
        u = os.uname()
        # platform.platform()'s string, without its import and the `uname -p` it forks on every kernel start.
        plat = '%s-%s-%s' % (u.sysname, u.release, u.machine)
        try:
            plat += '-with-glibc' + os.confstr('CS_GNU_LIBC_VERSION').split()[-1]
        except (ValueError, OSError, AttributeError, IndexError):
            pass
        try:
            cwd = os.getcwd()
        except OSError:
            cwd = None
        return {
            'python_executable': sys.executable,
            'python_version': sys.version,
            'sys_path': list(sys.path),
            'platform': plat,
            'machine': u.machine,
            'cwd': cwd,
            'venv': sys.prefix != sys.base_prefix,
            'prefix': sys.prefix,
            'kernel_pid': os.getpid(),
            'uid': os.getuid(),
            'hostname': u.nodename,
        }

    def serve(self, gen, hello_fd):
        global _running
        read = os.fdopen(REQ_FD, 'rb', closefd=False).readline
        # The leading newline ends any line a killed predecessor left half-written on the lane.
        os.write(EV_FD, b'\n')
        send({'type': 'hello', 'pid': os.getpid(), 'gen': gen, 'info': self.info()})
        if hello_fd >= 0:
            try:
                os.write(hello_fd, b'1')  # tells the agent this kernel started
                os.close(hello_fd)
            except OSError:
                pass
        while True:
            line = read()
            if not line:
                os._exit(0)  # the server is gone
            try:
                req = _loads(line)
            except ValueError:
                continue
            rid = req.get('id')
            op = req.get('op')
            if op == 'execute':
                done = False
                try:
                    ru0 = _getrusage(_RU_SELF)
                    rc0 = _getrusage(_RU_CHILDREN)
                    status, error = self.execute(req)
                    _flush_std()
                    ru1 = _getrusage(_RU_SELF)
                    rc1 = _getrusage(_RU_CHILDREN)
                    done = True
                    send({
                        'type': 'done',
                        'id': rid,
                        'status': status,
                        'error': error,
                        'usage': {
                            'cpu_user_ms': round((ru1.ru_utime - ru0.ru_utime + rc1.ru_utime - rc0.ru_utime) * 1000, 3),
                            'cpu_system_ms': round((ru1.ru_stime - ru0.ru_stime + rc1.ru_stime - rc0.ru_stime) * 1000, 3),
                            'max_rss_kb': ru1.ru_maxrss,
                        },
                        'cpu_total_ms': round((ru1.ru_utime + ru1.ru_stime + rc1.ru_utime + rc1.ru_stime) * 1000, 3),
                        'unread_output': _unread_output(),
                    })
                except KeyboardInterrupt:
                    # A second SIGINT can land between the cell and the bookkeeping.
                    _running = False
                    if not done:
                        send({'type': 'done', 'id': rid, 'status': 'interrupted', 'error': None, 'usage': None})
            elif op == 'info':
                send({'type': 'info', 'id': rid, 'info': self.info()})
            elif op == 'reap':
                _reap_zombie_children()
            elif op == 'clear_cache':
                try:
                    result = _caches.clear(self.ns, req.get('workspace') or os.getcwd(), req.get('important_only'))
                except Exception as e:
                    result = {'error': '%s: %s' % (type(e).__name__, e)}
                send({'type': 'reply', 'id': rid, 'result': result})


def _reap_zombie_children():
    """Collect children the agent killed after a timeout, so their zombies stop holding pids."""
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return  # no children left
        if pid == 0:
            return  # the rest still run


def _ends_with_semicolon(code, node):
    """A trailing ';' after the last expression hides its value, as in a notebook."""
    lines = code.splitlines()
    if node.end_lineno is None or node.end_lineno > len(lines):
        return False
    rest = lines[node.end_lineno - 1].encode('utf-8', 'surrogatepass')[node.end_col_offset :]
    return rest.lstrip().startswith(b';')


def _future_mask():
    import __future__

    m = 0
    for name in __future__.all_feature_names:
        m |= getattr(__future__, name).compiler_flag
    return m


_FUTURE_MASK = _future_mask()

# --- errors --------------------------------------------------------------------


def syntax_error_info(code, e):
    if isinstance(e, ValueError):  # e.g. null bytes in the source
        msg = str(e)
        return {
            'code': 'syntax_error',
            'ename': 'SyntaxError',
            'evalue': msg,
            'message': 'SyntaxError: %s' % msg,
            'traceback': [],
            'line': None,
            'column': None,
            'excerpt': None,
            'text': None,
        }
    lines = code.splitlines()
    trunc = truncation(code, lines)
    if trunc is not None:
        line, col, reason = trunc
        excerpt = lines[line - 1] if 0 < line <= len(lines) else ''
        return {
            'code': 'truncated_code',
            'ename': type(e).__name__,
            'evalue': e.msg,
            'message': 'The code ends before it is complete: %s (line %d). Send the whole code again.' % (reason, line),
            'traceback': _format_syntax_error(e),
            'line': line,
            'column': col,
            'excerpt': excerpt,
            'reason': reason,
        }
    line = e.lineno
    col = e.offset
    excerpt = lines[line - 1] if line and 0 < line <= len(lines) else (e.text or '').rstrip('\n')
    where = ' (line %s, column %s)' % (line, col) if line else ''
    return {
        'code': 'syntax_error',
        'ename': type(e).__name__,
        'evalue': e.msg,
        'message': '%s: %s%s' % (type(e).__name__, e.msg, where),
        'traceback': _format_syntax_error(e),
        'line': line,
        'column': col,
        'excerpt': excerpt,
        'text': e.text,
    }


def _format_syntax_error(e):
    return list(traceback.format_exception_only(type(e), e))


_OPENERS = {'(': ')', '[': ']', '{': '}'}
_CLOSERS = {')': '(', ']': '[', '}': '{'}


def truncation(code, lines):
    """(line, column, reason) when the code is a prefix of valid Python cut off inside a
    bracket, string or block, else None. The structure comes from tokenize; a completed
    version of the code is then compiled so real mistakes inside the brackets
    (``def f(:``) stay syntax errors."""
    T = tokenize
    stack = []  # (char, line, col) of open brackets
    last = None  # last significant token
    unterminated = None  # ERRORTOKEN quote starting an unterminated one-line string
    eof_error = None
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            tt = tok.type
            if tt == T.ERRORTOKEN:
                if tok.string[:1] in ('"', "'") and unterminated is None:
                    unterminated = tok
                continue
            if unterminated is not None:
                continue  # the rest of that line is the string's content
            if tt == T.OP:
                s = tok.string
                if s in _OPENERS:
                    stack.append((s, tok.start[0], tok.start[1]))
                elif s in _CLOSERS:
                    if not stack or stack[-1][0] != _CLOSERS[s]:
                        return None
                    stack.pop()
            if tt not in (T.NEWLINE, T.NL, T.COMMENT, T.INDENT, T.DEDENT, T.ENDMARKER):
                last = tok
    except tokenize.TokenError as te:
        eof_error = te
    except (SyntaxError, ValueError):
        return None  # IndentationError from tokenize: a real mistake, not a cut

    if unterminated is not None:
        # Only a string opened on the last line can still be completed.
        if unterminated.start[0] != len(lines):
            return None
        quote = unterminated.string[0]
        completion = code + quote + _closers(stack)
        reason = 'string opened at line %d column %d is not closed' % (unterminated.start[0], unterminated.start[1] + 1)
        pos = (unterminated.start[0], unterminated.start[1] + 1)
        return (pos[0], pos[1], reason) if _compiles_or_fails_after(completion, code, last) else None

    if eof_error is not None:
        msg = eof_error.args[0] if eof_error.args else ''
        where = eof_error.args[1] if len(eof_error.args) > 1 else (len(lines), 0)
        if 'string' in msg:
            sl, sc = where
            text = lines[sl - 1][sc:] if 0 < sl <= len(lines) else ''
            i = 0
            while i < len(text) and text[i] not in '"\'':
                i += 1
            quote = text[i : i + 3] if text[i : i + 3] in ('"""', "'''") else '"""'
            completion = code + quote + _closers(stack)
            reason = 'triple-quoted string opened at line %d column %d is not closed' % (sl, sc + 1)
            return (sl, sc + 1, reason) if _compiles_or_fails_after(completion, code, last) else None
        if stack:
            ch, bl, bc = stack[-1]
            completion = code + _closers(stack)
            reason = "'%s' opened at line %d column %d is not closed" % (ch, bl, bc + 1)
            return (bl, bc + 1, reason) if _compiles_or_fails_after(completion, code, last) else None
        # A backslash continuation with nothing after it.
        if code.rstrip(' \t\r\n').endswith('\\'):
            n = len(lines)
            return (n, len(lines[-1]) if lines else 0, 'line continuation at the end')
        return None

    # A block header (def/for/if/with/class...) at the end with no body.
    if last is not None and last.type == T.OP and last.string == ':' and not stack:
        header = lines[last.start[0] - 1]
        indent = header[: len(header) - len(header.lstrip())]
        completion = code.rstrip() + '\n' + indent + '    pass\n'
        if _compiles(completion):
            first = header.strip().split(None, 1)[0].rstrip(':') if header.strip() else ''
            reason = "'%s' block at line %d has no body" % (first, last.start[0])
            return (last.start[0], last.end[1], reason)
    return None


def _closers(stack):
    return ''.join(_OPENERS[ch] for ch, _l, _c in reversed(stack))


def _compiles(src):
    try:
        compile(src, '<check>', 'exec', ast.PyCF_ONLY_AST | FLAG_TOP_LEVEL_AWAIT, True)
        return True
    except (SyntaxError, ValueError):
        return False


def _compiles_or_fails_after(completion, code, last):
    """True when the completed code parses, or its first error lies past the original end
    (an expression cut mid-way, like ``(1 +``, then fails at the added closer)."""
    try:
        compile(completion, '<check>', 'exec', ast.PyCF_ONLY_AST | FLAG_TOP_LEVEL_AWAIT, True)
        return True
    except (SyntaxError, ValueError) as e:
        if not isinstance(e, SyntaxError) or e.lineno is None or last is None:
            return False
        end = last.end  # (line, col) 0-based col
        return (e.lineno, (e.offset or 1) - 1) >= end


def _top_module(name):
    if not name:
        return None
    if name in _PYPI_NAMES:
        return _PYPI_NAMES[name]
    top = name.split('.')[0]
    return _PYPI_NAMES.get(top, top)


def runtime_error_info(e, filename):
    tb = e.__traceback__
    t = tb
    while t is not None and not t.tb_frame.f_code.co_filename.startswith('<cell-'):
        t = t.tb_next
    if t is not None:
        tb = t
    te = traceback.TracebackException(type(e), e, tb, compact=True)
    _strip_kernel_frames(te, set())
    lines = list(te.format())
    line = None
    excerpt = None
    for fs in te.stack:
        if fs.filename == filename:
            line = fs.lineno
            excerpt = fs.line
    ename = type(e).__name__
    try:
        evalue = str(e)
    except Exception:
        evalue = '<unprintable %s>' % ename
    where = ' (line %d: %s)' % (line, excerpt) if line and excerpt else (' (line %d)' % line if line else '')
    info = {
        'code': 'runtime_error',
        'ename': ename,
        'evalue': evalue,
        'message': '%s: %s%s' % (ename, evalue, where),
        'traceback': lines,
        'line': line,
        'excerpt': excerpt,
    }
    if isinstance(e, ImportError):
        name = e.name
        info['code'] = 'import_error'
        info['module'] = name
        info['sys_path'] = list(sys.path)
        if isinstance(e, ModuleNotFoundError) and name:
            info['hint'] = 'install_package("%s")' % _top_module(name)
        elif name:
            info['hint'] = 'the module %r was found but does not provide the requested name; check the installed version' % name
    return info


def _strip_kernel_frames(te, seen):
    if id(te) in seen:
        return
    seen.add(id(te))
    kept = [fs for fs in te.stack if fs.filename != KERNEL_FILE]
    if len(kept) != len(te.stack):
        te.stack = traceback.StackSummary.from_list(kept)
    for sub in (te.__cause__, te.__context__):
        if sub is not None:
            _strip_kernel_frames(sub, seen)
    for sub in getattr(te, 'exceptions', None) or ():
        _strip_kernel_frames(sub, seen)


def main():
    signal.signal(signal.SIGINT, _on_sigint)
    _setup_fds(int(sys.argv[1]))
    gen = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    hello_fd = int(sys.argv[3]) if len(sys.argv) > 3 else -1
    preload = sys.argv[4] if len(sys.argv) > 4 else ''
    if hello_fd >= 0:
        os.set_inheritable(hello_fd, False)
    # Let the OOM killer pick the kernel (and whatever it starts), never the agent.
    try:
        with open('/proc/self/oom_score_adj', 'w') as f:
            f.write('1000')
    except OSError:
        pass
    # Cells import from the workspace (cwd) as in a notebook, never from the agent's directory;
    # everything the kernel needs later is imported above, so workspace files cannot shadow it.
    here = os.path.dirname(KERNEL_FILE)
    if sys.path and os.path.abspath(sys.path[0] or '.') == here:
        del sys.path[0]
    for s in (sys.stdout, sys.stderr):
        try:
            s.reconfigure(encoding='utf-8', errors='backslashreplace', write_through=True)
        except Exception:
            pass
    sys.argv = ['']
    _install_capture()
    if preload:
        # A pooled box's first kernel only (docs/AGENT_PROTOCOL.md); before the workspace joins sys.path, so
        # only installed libraries load, and before the hello, so the box is handed out once it is done.
        _load_sibling('preload').run(preload)
    sys.path.insert(0, '')
    Kernel().serve(gen, hello_fd)


if __name__ == '__main__':
    main()
