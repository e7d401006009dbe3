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
