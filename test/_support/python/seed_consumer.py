"""The seed's consumer (shared/seed: ConsumerMagager), pointed at a taskwire god.

Exactly the seed's loop: if not pq.empty(), n = pq.get(timeout=1), compute
n*n, cq.put('%d * %d = %d' % (n, n, n*n)); else sleep. Differences, for
tests: the address and key come from --port and TASKWIRE_AUTHKEY, the sleep
is --sleep (the seed's is 1 s), it stops after --count results, and a get
that finds the queue emptied by another consumer (queue.Empty) is retried.
With --hold it takes one task, says so, and then sleeps forever holding it
(a worker killed mid-task). Prints JSON lines: ready, holding, computed, done.

Usage: seed_consumer.py --port PORT [--count N] [--sleep S] [--hold]
"""
import argparse
import json
import os
import queue
import time
from multiprocessing.managers import BaseManager


class ConsumerMagager(BaseManager):
    pass


ConsumerMagager.register('pq')
ConsumerMagager.register('cq')


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--port', type=int, required=True)
    parser.add_argument('--count', type=int, default=None)
    parser.add_argument('--sleep', type=float, default=0.05)
    parser.add_argument('--hold', action='store_true')
    args = parser.parse_args()
    m = ConsumerMagager(address=('127.0.0.1', args.port),
                        authkey=os.environ['TASKWIRE_AUTHKEY'].encode())
    m.connect()
    pq = m.pq()
    cq = m.cq()
    print(json.dumps({'event': 'ready'}), flush=True)
    done = 0
    while args.count is None or done < args.count:
        if not pq.empty():
            try:
                n = pq.get(timeout=1)
            except queue.Empty:
                continue
            if args.hold:
                print(json.dumps({'event': 'holding', 'n': str(n)}), flush=True)
                while True:
                    time.sleep(3600)
            print(json.dumps({'event': 'computed', 'n': str(n)}), flush=True)
            cq.put('%d * %d = %d' % (n, n, n * n))
            done += 1
        else:
            time.sleep(args.sleep)
    print(json.dumps({'event': 'done', 'count': done}), flush=True)


if __name__ == '__main__':
    main()
