"""The Python original's god, for the benchmark baseline.

As in the seed: a BaseManager serves two queue.Queue objects, `pq` (tasks)
and `cq` (results), and the god's main process takes every result from `cq`
(here with a blocking get(timeout) instead of the seed's empty()+sleep(1)).
It does not print each result (like taskwire's god with --quiet); it prints
JSON lines: `ready`, then `done` once --count results arrived (with the time
of the last one, and latency percentiles when the results carry a timestamp,
leaving out the first --warmup tasks),
then waits for SIGTERM so the harness can read its CPU time.

Usage: god.py --port PORT --count N [--warmup W]   (key in TASKWIRE_AUTHKEY)
"""
import argparse
import json
import os
import queue
import signal
import sys
import time
from multiprocessing.managers import BaseManager

pq = queue.Queue()
cq = queue.Queue()


class GodManager(BaseManager):
    pass


GodManager.register("pq", callable=lambda: pq)
GodManager.register("cq", callable=lambda: cq)


def emit(**fields):
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--warmup", type=int, default=0)
    args = parser.parse_args()
    key = os.environ["TASKWIRE_AUTHKEY"].encode()
    manager = GodManager(address=("127.0.0.1", args.port), authkey=key)
    manager.start()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        c_q = manager.cq()
        emit(event="ready", pid=os.getpid(), manager_pid=manager._process.pid)
        received = 0
        latencies = []
        every = []  # warm-up included
        while received < args.count:
            try:
                r = c_q.get(timeout=1)
            except queue.Empty:
                continue
            received += 1
            if isinstance(r, tuple):  # (n, square, t), paced
                every.append((time.time() - r[2]) * 1000)
                if r[0] >= args.warmup:
                    latencies.append(every[-1])
        done = {"event": "done", "count": received, "t": time.time() * 1000}
        if latencies:
            latencies.sort()
            every.sort()
            pick = lambda q, xs=latencies: xs[min(len(xs) - 1, int(q * len(xs)))]
            done.update(p50=pick(0.5), p99=pick(0.99), p99All=pick(0.99, every), max=latencies[-1])
        emit(**done)
        while True:
            time.sleep(3600)
    finally:
        manager.shutdown()


if __name__ == "__main__":
    main()
