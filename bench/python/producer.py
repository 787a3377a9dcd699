"""The Python original's producer, for the benchmark baseline.

Puts --count random integers (0..999, as in the seed) into the god's `pq`,
one put per call as the seed does, with no sleeps; or, with --rate R, puts
(n, t) tuples paced at R per second for the latency figures. Prints JSON lines
`start` (before the first put) and `sent`, then waits for SIGTERM.

Usage: producer.py --port PORT --count N [--rate R]
"""
import argparse
import json
import os
import random
import signal
import sys
import time
from multiprocessing.managers import BaseManager


class ProducerManager(BaseManager):
    pass


ProducerManager.register("pq")


def emit(**fields):
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--rate", type=float, default=0)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    pm = ProducerManager(address=("127.0.0.1", args.port), authkey=os.environ["TASKWIRE_AUTHKEY"].encode())
    pm.connect()
    task = pm.pq()
    emit(event="start", t=time.time() * 1000)
    if args.rate > 0:
        t0 = time.monotonic()
        for n in range(args.count):
            due = t0 + n / args.rate
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            task.put((n, time.time()))
    else:
        for _ in range(args.count):
            task.put(random.randint(0, 999))
    emit(event="sent", count=args.count, t=time.time() * 1000)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
