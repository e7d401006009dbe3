# Benchmark floor: a bare Python process exec'ing JSON-lines requests over a pipe, with no isolation.
import json
import sys

ns = {}
for line in sys.stdin:
    req = json.loads(line)
    exec(req["code"], ns)
    sys.stdout.write(json.dumps({"id": req["id"], "status": "ok"}) + "\n")
    sys.stdout.flush()
