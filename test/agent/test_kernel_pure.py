# Table tests of the kernel's pure functions: truncated-code detection, syntax and runtime error reports, JSON safety.
import linecache
import os
import sys
import unittest

AGENT_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', 'src', 'agent'))
sys.path.insert(0, AGENT_DIR)

import kernel_channel  # noqa: E402
import kernel_errors  # noqa: E402

# code -> (line, column, reason) when it is valid Python cut short, None when it is a real mistake.
TRUNCATION = [
    ('print(1', (1, 6, "'(' opened at line 1 column 6 is not closed")),
    ('print(1 +', (1, 6, "'(' opened at line 1 column 6 is not closed")),
    ('x = [1, 2,\n  3', (1, 5, "'[' opened at line 1 column 5 is not closed")),
    ('x = [1,\n 2,\n', (1, 5, "'[' opened at line 1 column 5 is not closed")),
    ("d = {'a': (1, 2", (1, 11, "'(' opened at line 1 column 11 is not closed")),
    ('x = {1: 2', (1, 5, "'{' opened at line 1 column 5 is not closed")),
    ('x = 1\ny = (2', (2, 5, "'(' opened at line 2 column 5 is not closed")),
    ('f(x for x in', (1, 2, "'(' opened at line 1 column 2 is not closed")),
    ('s = "abc', (1, 5, 'string opened at line 1 column 5 is not closed')),
    ("print('abc", (1, 7, 'string opened at line 1 column 7 is not closed')),
    ('s = """abc\ndef', (1, 5, 'triple-quoted string opened at line 1 column 5 is not closed')),
    ("s = '''abc", (1, 5, 'triple-quoted string opened at line 1 column 5 is not closed')),
    ('def f():', (1, 8, "'def' block at line 1 has no body")),
    ('class A:', (1, 8, "'class' block at line 1 has no body")),
    ('while True:  # loop', (1, 11, "'while' block at line 1 has no body")),
    ('for i in range(3):\n    if i:', (2, 9, "'if' block at line 2 has no body")),
    ('@dec\ndef f(x):', (2, 9, "'def' block at line 2 has no body")),
    ('x = 1 + \\', (1, 9, 'line continuation at the end')),
    ('x = 1 + \\\n', (1, 9, 'line continuation at the end')),
    ('print(1) \\', (1, 10, 'line continuation at the end')),
    # Real mistakes, not cuts.
    ('def f(:', None),
    ('x = )', None),
    ('x = (]', None),
    ('a = "x\nb = 1', None),
    ('else:', None),
    ('if x:\n    pass\n  else:', None),
    ('x = = 1', None),
    ('x = = 1 \\', None),
    ('x = = 1 \\\n', None),
    ('x = 1  # not a continuation \\', None),
    ('', None),
    ('print("complete")', None),
]

# code -> fields of syntax_error_info for the error compile() raises on it.
SYNTAX_ERRORS = [
    (
        'print(1',
        {
            'code': 'truncated_code',
            'line': 1,
            'column': 6,
            'excerpt': 'print(1',
            'reason': "'(' opened at line 1 column 6 is not closed",
            'message': "The code ends before it is complete: '(' opened at line 1 column 6 is not closed (line 1). "
            'Send the whole code again.',
        },
    ),
    (
        'x = 1\nfor i in x:',
        {
            'code': 'truncated_code',
            'line': 2,
            'column': 11,
            'excerpt': 'for i in x:',
            'reason': "'for' block at line 2 has no body",
        },
    ),
    (
        'x = 1\ny = = 2',
        {
            'code': 'syntax_error',
            'ename': 'SyntaxError',
            'evalue': 'invalid syntax',
            'line': 2,
            'column': 5,
            'excerpt': 'y = = 2',
            'message': 'SyntaxError: invalid syntax (line 2, column 5)',
        },
    ),
    (
        '  x = 1',
        {
            'code': 'syntax_error',
            'ename': 'IndentationError',
            'evalue': 'unexpected indent',
            'line': 1,
            'excerpt': '  x = 1',
        },
    ),
    (
        'x = 1\x00',
        {
            'code': 'syntax_error',
            'ename': 'SyntaxError',
            'line': None,
            'column': None,
            'excerpt': None,
            'traceback': [],
        },
    ),
]

# cell code (run as <cell-1>) -> fields of runtime_error_info for what it raises.
RUNTIME_ERRORS = [
    (
        'def boom():\n    return 1 / 0\n\nboom()',
        {
            'code': 'runtime_error',
            'ename': 'ZeroDivisionError',
            'evalue': 'division by zero',
            'line': 2,
            'excerpt': 'return 1 / 0',
            'message': 'ZeroDivisionError: division by zero (line 2: return 1 / 0)',
        },
    ),
    (
        'import no_such_module_xyz',
        {
            'code': 'import_error',
            'ename': 'ModuleNotFoundError',
            'module': 'no_such_module_xyz',
            'hint': 'install_package("no_such_module_xyz")',
            'line': 1,
        },
    ),
    (
        "raise ModuleNotFoundError('gone', name='sklearn.svm')",
        {'code': 'import_error', 'module': 'sklearn.svm', 'hint': 'install_package("scikit-learn")'},
    ),
    (
        'from json import no_such_name',
        {
            'code': 'import_error',
            'ename': 'ImportError',
            'module': 'json',
            'hint': "the module 'json' was found but does not provide the requested name; check the installed version",
        },
    ),
    ("raise ModuleNotFoundError('gone', name=5)", {'code': 'import_error', 'module': None, 'hint': None}),
    ("raise ModuleNotFoundError('gone', name=[1])", {'code': 'import_error', 'module': None, 'hint': None}),
    (
        "class S(str):\n    def split(self, *a):\n        raise RuntimeError('no')\n\n"
        "raise ModuleNotFoundError('gone', name=S('cv2.dnn'))",
        {'code': 'import_error', 'module': 'cv2.dnn', 'hint': 'install_package("opencv-python-headless")'},
    ),
    (
        "class E(ImportError):\n    @property\n    def name(self):\n        raise RuntimeError('no')\n\nraise E('x')",
        {'code': 'import_error', 'ename': 'E', 'module': None, 'hint': None},
    ),
    (
        'class E(Exception):\n    def __str__(self):\n        raise RuntimeError\n\nraise E()',
        {'code': 'runtime_error', 'ename': 'E', 'evalue': '<unprintable E>', 'line': 5},
    ),
    ('raise SystemExit(3)', {'code': 'runtime_error', 'ename': 'SystemExit', 'evalue': '3', 'line': 1}),
    (
        'e = None\nfor i in range(3000):\n    try:\n        raise ValueError(i) from e\n'
        '    except ValueError as x:\n        e = x\nraise e',
        {'code': 'runtime_error', 'ename': 'ValueError', 'evalue': '2999', 'line': 4},
    ),
]

# import name -> distribution install_package() is told to get.
PYPI_NAMES = [
    (None, None),
    ('', None),
    ('numpy', 'numpy'),
    ('numpy.linalg', 'numpy'),
    ('sklearn', 'scikit-learn'),
    ('sklearn.svm', 'scikit-learn'),
    ('PIL.Image', 'pillow'),
    ('google.protobuf', 'protobuf'),
    ('google.cloud', 'google'),
    ('yaml', 'pyyaml'),
]

# path -> whether its frames are the kernel's own (cut from tracebacks).
KERNEL_FILES = [
    (os.path.join(AGENT_DIR, 'kernel.py'), True),
    (os.path.join(AGENT_DIR, 'kernel_display.py'), True),
    (os.path.join(AGENT_DIR, 'kernel_errors.py'), True),
    (os.path.join(AGENT_DIR, 'agent.py'), False),
    ('/workspace/kernel.py', False),
    ('<cell-1>', False),
]

# 60 lists, each the only item of the one before: json_safe gives up at depth 51 with the repr of the rest.
_deep: list = []
_node = _deep
for _ in range(59):
    _node.append([])
    _node = _node[0]

# value -> json_safe(value, 0): what an event carries when plain JSON cannot hold the value.
JSON_SAFE = [
    (float('nan'), None),
    (float('inf'), None),
    (float('-inf'), None),
    (1.5, 1.5),
    ({1: 'a', 'b': (1, 2)}, {'1': 'a', 'b': [1, 2]}),
    ([None, True, 'x', 3], [None, True, 'x', 3]),
    (frozenset(), 'frozenset()'),
    (b'ab', "b'ab'"),
]


def _raised(code: str) -> BaseException:
    # As the kernel does, so tracebacks can quote the cell's lines.
    linecache.cache['<cell-1>'] = (len(code), None, code.splitlines(True), '<cell-1>')
    try:
        exec(compile(code, '<cell-1>', 'exec'), {'__name__': '__main__'})
    except BaseException as e:
        return e
    raise AssertionError(f'{code!r} raised nothing')


class TruncationTest(unittest.TestCase):
    def test_table(self) -> None:
        for code, expected in TRUNCATION:
            with self.subTest(code=code):
                self.assertEqual(kernel_errors.truncation(code, code.splitlines()), expected)


class SyntaxErrorInfoTest(unittest.TestCase):
    def test_table(self) -> None:
        for code, expected in SYNTAX_ERRORS:
            with self.subTest(code=code):
                try:
                    compile(code, '<cell-1>', 'exec')
                except (SyntaxError, ValueError) as e:
                    info = kernel_errors.syntax_error_info(code, e)
                else:
                    raise AssertionError(f'{code!r} compiled')
                self.assertEqual({k: info.get(k) for k in expected}, expected)


class RuntimeErrorInfoTest(unittest.TestCase):
    def test_table(self) -> None:
        for code, expected in RUNTIME_ERRORS:
            with self.subTest(code=code):
                info = kernel_errors.runtime_error_info(_raised(code), '<cell-1>')
                self.assertEqual({k: info.get(k) for k in expected}, expected)
                self.assertIn('File "<cell-1>"', ''.join(info['traceback']))


class PypiNameTest(unittest.TestCase):
    def test_table(self) -> None:
        for name, expected in PYPI_NAMES:
            with self.subTest(name=name):
                self.assertEqual(kernel_errors.pypi_name(name), expected)


class KernelFileTest(unittest.TestCase):
    def test_table(self) -> None:
        for path, expected in KERNEL_FILES:
            with self.subTest(path=path):
                self.assertEqual(kernel_errors.is_kernel_file(path), expected)


class JsonSafeTest(unittest.TestCase):
    def test_table(self) -> None:
        for value, expected in JSON_SAFE:
            with self.subTest(value=value):
                self.assertEqual(kernel_channel.json_safe(value, 0), expected)

    def test_depth_is_bounded(self) -> None:
        out = kernel_channel.json_safe(_deep, 0)
        for _ in range(51):
            out = out[0]
        self.assertEqual(out, '[[[[[[[[[]]]]]]]]]')


if __name__ == '__main__':
    unittest.main()
