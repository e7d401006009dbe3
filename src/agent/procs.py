# The process table as the agent and its helpers read it from /proc; standard library only, reads nothing else.
import os


def proc_table():
    """pid -> (state, ppid, pgrp, session) for every visible process."""
    table = {}
    try:
        names = os.listdir('/proc')
    except OSError:
        return table
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % name, 'rb') as f:
                data = f.read()
        except OSError:
            continue
        r = data.rfind(b')')
        fields = data[r + 2 :].split()
        if len(fields) < 4:
            continue
        table[int(name)] = (fields[0], int(fields[1]), int(fields[2]), int(fields[3]))
    return table


def groups_and_descendants(table, roots):
    """Every pid in the process groups or sessions that roots lead, the roots themselves, and their descendants."""
    roots = set(roots)
    if not roots:
        return set()
    keep = {pid for pid in roots if pid in table}
    children = {}
    for pid, (_state, ppid, pgrp, sid) in table.items():
        if pgrp in roots or sid in roots:
            keep.add(pid)
        children.setdefault(ppid, []).append(pid)
    todo = list(keep)
    while todo:
        for c in children.get(todo.pop(), ()):
            if c not in keep:
                keep.add(c)
                todo.append(c)
    return keep
