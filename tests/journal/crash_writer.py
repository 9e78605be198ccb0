"""The crash-loop test's victim: writes a journal until it is killed.

``python crash_writer.py LOG SEED`` prints ``ready``, then ``<seq> <hash>`` for every decision
once ``emit`` has returned (so it is on disk), and never stops by itself.
"""

from __future__ import annotations

import asyncio
import random
import sys
from pathlib import Path

from console.journal.events import (
    ActionConfirmed,
    BlockFinished,
    BlockOutput,
    BlockStarted,
    Event,
    NodeResult,
    Note,
)
from console.journal.log import JournalLog

NODES = ["m1", "m2", "m3"]


def durable(seq: int, digest: str) -> None:
    sys.stdout.write(f"{seq} {digest}\n")
    sys.stdout.flush()


async def block_output(log: JournalLog, rng: random.Random, run: str, block: str) -> None:
    for node in NODES:
        for i in range(rng.randint(0, 25)):
            text = f"{node} line {i}: " + "x" * rng.randint(0, 300) + "\n"
            await log.emit(BlockOutput(run=run, block=block, node=node, stream="stdout", text=text))
        await log.emit(NodeResult(run=run, block=block, node=node, verdict="pass", exit=0))


async def main(path: Path, seed: int) -> None:
    rng = random.Random(seed)
    log = JournalLog.create(
        path, "INC-20261122T101201Z-crash", "crash loop", actor="crash@test", group_commit_ms=20
    )
    durable(0, log.head)
    print("ready", flush=True)

    async def decide(payload: BlockStarted | ActionConfirmed | Note) -> Event:
        event = await log.emit(payload)
        durable(event.seq, event.hash)
        return event

    for i in range(1_000_000):
        check, action = f"c{i}", f"a{i}"
        await decide(
            BlockStarted(
                run=check, block="health", kind="check", lang="sh", command="health", nodes=NODES
            )
        )
        await block_output(log, rng, check, "health")
        await log.emit(BlockFinished(run=check, block="health", verdict="pass"))
        await decide(ActionConfirmed(run=action, block="restart", nodes=NODES, how="typed"))
        await decide(
            BlockStarted(
                run=action,
                block="restart",
                kind="action",
                lang="sh",
                command="systemctl restart etcd",
                nodes=NODES,
                requires=["health"],
            )
        )
        await block_output(log, rng, action, "restart")
        await log.emit(BlockFinished(run=action, block="restart", verdict="pass"))
        await decide(Note(text=f"round {i} done"))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2])))
