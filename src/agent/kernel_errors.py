# A cell's structured errors: syntax errors (code cut short vs. real mistakes) and runtime errors trimmed to the cell.
from __future__ import annotations

import ast
import io
import os
import sys
import tokenize
import traceback

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# Frames of the kernel's own files are cut from the tracebacks a cell gets.
_KERNEL_DIR = os.path.dirname(os.path.abspath(__file__))
_CHECK_FLAGS = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT

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

# --- syntax errors -------------------------------------------------------------


def syntax_error_info(code: str, e: SyntaxError | ValueError) -> dict[str, Any]:
    if not isinstance(e, SyntaxError):  # e.g. null bytes in the source
        msg = str(e)
        return {
            'code': 'syntax_error',
            'ename': 'SyntaxError',
            'evalue': msg,
            'message': f'SyntaxError: {msg}',
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
            'message': f'The code ends before it is complete: {reason} (line {line:d}). Send the whole code again.',
            'traceback': _format_syntax_error(e),
            'line': line,
            'column': col,
            'excerpt': excerpt,
            'reason': reason,
        }
    line = e.lineno
    col = e.offset
    excerpt = lines[line - 1] if line and 0 < line <= len(lines) else (e.text or '').rstrip('\n')
    where = f' (line {line}, column {col})' if line else ''
    return {
        'code': 'syntax_error',
        'ename': type(e).__name__,
        'evalue': e.msg,
        'message': f'{type(e).__name__}: {e.msg}{where}',
        'traceback': _format_syntax_error(e),
        'line': line,
        'column': col,
        'excerpt': excerpt,
        'text': e.text,
    }


def _format_syntax_error(e: SyntaxError) -> list[str]:
    return list(traceback.format_exception_only(type(e), e))


_OPENERS = {'(': ')', '[': ']', '{': '}'}
_CLOSERS = {')': '(', ']': '[', '}': '{'}


def truncation(code: str, lines: list[str]) -> tuple[int, int, str] | None:
    """(line, column, reason) when the code is a prefix of valid Python cut off inside a
    bracket, string or block, else None. The structure comes from tokenize; a completed
    version of the code is then compiled so real mistakes inside the brackets
    (``def f(:``) stay syntax errors."""
    T = tokenize
    stack: list[tuple[str, int, int]] = []  # (char, line, col) of open brackets
    last = None  # last significant token
    unterminated = None  # ERRORTOKEN quote starting an unterminated one-line string
    backslash = False  # the code's last token is a line-continuation backslash
    eof_error = None
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            tt = tok.type
            if tt == T.ERRORTOKEN:
                if tok.string[:1] in ('"', "'") and unterminated is None:
                    unterminated = tok
                if tok.string.strip():
                    backslash = tok.string == '\\'
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
                backslash = False
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
        sl, sc = unterminated.start
        reason = f'string opened at line {sl:d} column {sc + 1:d} is not closed'
        return (sl, sc + 1, reason) if _compiles_or_fails_after(completion, last) else None

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
            reason = f'triple-quoted string opened at line {sl:d} column {sc + 1:d} is not closed'
            return (sl, sc + 1, reason) if _compiles_or_fails_after(completion, last) else None
        if stack:
            ch, bl, bc = stack[-1]
            completion = code + _closers(stack)
            reason = f"'{ch}' opened at line {bl:d} column {bc + 1:d} is not closed"
            return (bl, bc + 1, reason) if _compiles_or_fails_after(completion, last) else None
        # A backslash continuation with nothing after it.
        if code.rstrip(' \t\r\n').endswith('\\'):
            return _continuation_cut(code, lines, last)
        return None

    # The same without the final newline: tokenize then leaves the backslash as an error token.
    if backslash:
        return _continuation_cut(code, lines, last)

    # A block header (def/for/if/with/class...) at the end with no body.
    if last is not None and last.type == T.OP and last.string == ':' and not stack:
        header = lines[last.start[0] - 1]
        indent = header[: len(header) - len(header.lstrip())]
        completion = code.rstrip() + '\n' + indent + '    pass\n'
        if _compiles(completion):
            first = header.strip().split(None, 1)[0].rstrip(':') if header.strip() else ''
            reason = f"'{first}' block at line {last.start[0]:d} has no body"
            return (last.start[0], last.end[1], reason)
    return None


def _continuation_cut(code: str, lines: list[str], last: tokenize.TokenInfo | None) -> tuple[int, int, str] | None:
    """A cut after a line-continuation backslash, unless the code before it is already wrong (``x = = 1 \\``)."""
    if not _compiles_or_fails_after(code + '\n', last):
        return None
    return (len(lines), len(lines[-1]) if lines else 0, 'line continuation at the end')


def _closers(stack: list[tuple[str, int, int]]) -> str:
    return ''.join(_OPENERS[ch] for ch, _l, _c in reversed(stack))


def _compiles(src: str) -> bool:
    try:
        compile(src, '<check>', 'exec', _CHECK_FLAGS, True)
        return True
    except (SyntaxError, ValueError):
        return False


def _compiles_or_fails_after(completion: str, last: tokenize.TokenInfo | None) -> bool:
    """True when the completed code parses, or its first error lies past the original end
    (an expression cut mid-way, like ``(1 +``, then fails at the added closer)."""
    try:
        compile(completion, '<check>', 'exec', _CHECK_FLAGS, True)
        return True
    except (SyntaxError, ValueError) as e:
        if not isinstance(e, SyntaxError) or e.lineno is None or last is None:
            return False
        end = last.end  # (line, col) 0-based col
        return (e.lineno, (e.offset or 1) - 1) >= end


# --- runtime errors ------------------------------------------------------------


def pypi_name(name: str | None) -> str | None:
    """The distribution to install for a missing module name (its top-level package unless known otherwise)."""
    if not name:
        return None
    if name in _PYPI_NAMES:
        return _PYPI_NAMES[name]
    top = name.split('.')[0]
    return _PYPI_NAMES.get(top, top)


def runtime_error_info(e: BaseException, filename: str) -> dict[str, Any]:
    tb = e.__traceback__
    t = tb
    while t is not None and not t.tb_frame.f_code.co_filename.startswith('<cell-'):
        t = t.tb_next
    if t is not None:
        tb = t
    te = traceback.TracebackException(type(e), e, tb, compact=True)
    _strip_kernel_frames(te)
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
        evalue = f'<unprintable {ename}>'
    where = f' (line {line:d}: {excerpt})' if line and excerpt else (f' (line {line:d})' if line else '')
    info = {
        'code': 'runtime_error',
        'ename': ename,
        'evalue': evalue,
        'message': f'{ename}: {evalue}{where}',
        'traceback': lines,
        'line': line,
        'excerpt': excerpt,
    }
    if isinstance(e, ImportError):
        name = _import_name(e)
        info['code'] = 'import_error'
        info['module'] = name
        info['sys_path'] = list(sys.path)
        if isinstance(e, ModuleNotFoundError) and name:
            info['hint'] = f'install_package("{pypi_name(name)}")'
        elif name:
            info['hint'] = (
                f'the module {name!r} was found but does not provide the requested name; check the installed version'
            )
    return info


def _import_name(e: ImportError) -> str | None:
    """The module name an ImportError carries, as a plain str; None when it has none. User code can raise one with
    any object as its name, or a str subclass whose methods raise."""
    try:
        name = e.name
    except Exception:
        return None
    return str.__str__(name) if isinstance(name, str) else None


def is_kernel_file(path: str) -> bool:
    """True for the kernel's own source files (kernel.py and its kernel_*.py modules)."""
    return os.path.basename(path).startswith('kernel') and os.path.dirname(path) == _KERNEL_DIR


def _strip_kernel_frames(top: traceback.TracebackException) -> None:
    """Drops the kernel's frames from te and every exception chained or grouped in it; a loop, not recursion, so a
    chain thousands of exceptions long costs no RecursionError."""
    seen: set[int] = set()
    todo = [top]
    while todo:
        te = todo.pop()
        if id(te) in seen:
            continue
        seen.add(id(te))
        kept = [fs for fs in te.stack if not is_kernel_file(fs.filename)]
        if len(kept) != len(te.stack):
            te.stack = traceback.StackSummary.from_list(kept)
        todo.extend(sub for sub in (te.__cause__, te.__context__) if sub is not None)
        todo.extend(getattr(te, 'exceptions', None) or ())
