# The process table as the agent and its helpers read it from /proc, and the walks over it; standard library only.
import os
from collections.abc import Iterable

# pid -> (state, ppid, process group, session)
Table = dict[int, tuple[bytes, int, int, int]]


def proc_table() -> Table:
    """Every visible process."""
    table: Table = {}
    try:
        names = os.listdir('/proc')
    except OSError:
        return table
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f'/proc/{name}/stat', 'rb') as f:
                data = f.read()
        except OSError:
            continue
        r = data.rfind(b')')
        fields = data[r + 2 :].split()
        if len(fields) < 4:
            continue
        table[int(name)] = (fields[0], int(fields[1]), int(fields[2]), int(fields[3]))
    return table


def members(table: Table, leaders: Iterable[int]) -> set[int]:
    """Every pid in the process groups or sessions the leaders lead."""
    leaders = set(leaders)
    return {pid for pid, (_s, _pp, pgrp, sid) in table.items() if pgrp in leaders or sid in leaders}


def descendants(table: Table, roots: Iterable[int], exclude: Iterable[int] = ()) -> set[int]:
    """Every pid below roots in the parent links of table, skipping (and not descending into) exclude."""
    exclude = set(exclude)
    children: dict[int, list[int]] = {}
    for pid, (_state, ppid, _pgrp, _sid) in table.items():
        children.setdefault(ppid, []).append(pid)
    found: set[int] = set()
    todo = list(roots)
    while todo:
        for c in children.get(todo.pop(), ()):
            if c not in exclude and c not in found:
                found.add(c)
                todo.append(c)
    return found


def groups_and_descendants(table: Table, roots: Iterable[int]) -> set[int]:
    """Every pid in the process groups or sessions that roots lead, the roots themselves, and their descendants."""
    roots = set(roots)
    if not roots:
        return set()
    keep = {pid for pid in roots if pid in table} | members(table, roots)
    return keep | descendants(table, keep)
