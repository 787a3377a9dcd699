"""The Python original's consumer, for the benchmark baseline.

Takes tasks from the god's `pq` with a blocking get(timeout=1) (no sleeps),
computes n*n and puts the seed's result string into `cq` (or, for a paced
task (n, t), the tuple (n, n*n, t)). --threads T runs T such loops at once,
each thread with its own connection (BaseManager proxies connect per thread).
Runs until SIGTERM.

Usage: consumer.py --port PORT [--threads T]
"""
import argparse
import json
import os
import queue
import signal
import sys
import threading
from multiprocessing.managers import BaseManager


class ConsumerManager(BaseManager):
    pass


ConsumerManager.register("pq")
ConsumerManager.register("cq")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    m = ConsumerManager(address=("127.0.0.1", args.port), authkey=os.environ["TASKWIRE_AUTHKEY"].encode())
    m.connect()
    pq = m.pq()
    cq = m.cq()

    def work():
        while True:
            try:
                n = pq.get(timeout=1)
            except queue.Empty:
                continue
            if isinstance(n, tuple):
                cq.put((n[0], n[0] * n[0], n[1]))
            else:
                cq.put("%d * %d = %d" % (n, n, n * n))

    threads = [threading.Thread(target=work, daemon=True) for _ in range(args.threads)]
    for t in threads:
        t.start()
    sys.stdout.write(json.dumps({"event": "consuming", "threads": args.threads}) + "\n")
    sys.stdout.flush()
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
