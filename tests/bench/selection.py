"""Planning benchmark: select nodes and render one shell block on a large inventory.

Run it as a script (it is not a test): ``python tests/bench/selection.py [--sizes 2000 8000]``.
It builds an inventory of N nodes in memory (no SSH), plans a check on ``role=etcd`` (every
node) and an action on ``name={{member}}`` (one node) with ``RunbookSession.plan``, and prints
the best of ``--repeat`` timings per size as Markdown.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from console.config import Config, Node  # noqa: E402
from console.execute.session import RunbookSession  # noqa: E402
from console.journal.sink import MemorySink  # noqa: E402
from console.runbook.parse import parse_runbook  # noqa: E402

RUNBOOK = """---
id: bench
vars:
  member: {}
---
# Bench

## 1. Plan

```sh check
#| id: every
#| on: role=etcd
echo "{{node}} is up" && systemctl is-active etcd
```

```sh action
#| id: one
#| on: name={{member}}
systemctl restart etcd
```
"""


def plan_seconds(size: int, block_id: str, repeat: int) -> float:
    """Best of ``repeat`` runs: seconds to plan ``block_id`` on ``size`` nodes."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.md"
        path.write_text(RUNBOOK)
        runbook, problems = parse_runbook(RUNBOOK, path)
        assert runbook is not None, [str(p) for p in problems]
        nodes = [Node(name=f"n{i}", host="127.0.0.1", roles=["etcd"]) for i in range(size)]
        session = RunbookSession(
            runbook, Config(nodes=nodes), MemorySink(), variables={"member": f"n{size // 2}"}
        )
        block = runbook.block(block_id)
        assert block is not None
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            session.plan(block)
            best = min(best, time.perf_counter() - start)
        return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 8000])
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (the best counts)")
    args = parser.parse_args()
    print("| nodes | all nodes (`role=etcd`) | one node (`name={{member}}`) |")
    print("| ---: | ---: | ---: |")
    for size in args.sizes:
        every = plan_seconds(size, "every", args.repeat)
        one = plan_seconds(size, "one", args.repeat)
        print(f"| {size} | {every * 1000:.0f} ms | {one * 1000:.0f} ms |", flush=True)


if __name__ == "__main__":
    main()
