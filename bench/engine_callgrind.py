"""Instructions per node of the in-process executor, counted by callgrind: steady on a loaded
machine, where bench/engine.py's times move 2-3x from run to run.

    valgrind --tool=callgrind --collect-atstart=no --toggle-collect='_operator_call*' \\
        --callgrind-out-file=/tmp/engine.cg .venv/bin/python bench/engine_callgrind.py [--width 100]

Runs bench/engine.py's fan-out (or chain) a few times to warm up, then the timed runs inside
``operator.call``, the one call callgrind is told to count: divide the "Collected" figure it
prints by the nodes this prints. Use PYTHONHASHSEED=0 for the same count from run to run.
"""

from __future__ import annotations

import argparse
import asyncio
import operator

from engine import REGISTRY, chain, fan_out  # bench/engine.py, beside this script

from runtime.events import ListSink
from runtime.executor import InProcessExecutor
from runtime.validation import compile_graph


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--width", type=int, default=100, help="fan-out width or chain length")
    parser.add_argument("--shape", choices=("fan", "chain"), default="fan")
    parser.add_argument("--node", default="bench_add", help="bench_add (I/O) or bench_add_pure")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    build = fan_out if args.shape == "fan" else chain
    graph = build(args.width, args.node)
    plan = compile_graph(graph, REGISTRY)

    async def runs(count: int) -> None:
        for _ in range(count):
            result = await InProcessExecutor(registry=REGISTRY, sink=ListSink()).run(plan, 0)
            assert result.status == "succeeded", result.error

    asyncio.run(runs(3))  # first-run costs (template compiles, caches) are not per node
    operator.call(asyncio.run, runs(args.runs))
    print(f"nodes timed: {args.runs * len(graph['nodes'])}")


if __name__ == "__main__":
    main()
