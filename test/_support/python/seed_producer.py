"""The seed's producer (shared/seed: ProducerMagager), pointed at a taskwire god.

Exactly the seed's use of BaseManager: register 'pq', connect() with an
address and an authkey, take the proxy with pm.pq() and put random integers.
The two lines a seed script changes are the address and the key; here they
come from --port and TASKWIRE_AUTHKEY, and the seed's endless rounds are one
burst of --count integers in 0..--max. Prints JSON lines: connected, sent
(with every value, as strings).

Usage: seed_producer.py --port PORT --count N [--max M]
"""
import argparse
import json
import os
import random
from multiprocessing.managers import BaseManager


class ProducerMagager(BaseManager):
    pass


ProducerMagager.register('pq')


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--port', type=int, required=True)
    parser.add_argument('--count', type=int, required=True)
    parser.add_argument('--max', type=int, default=999)
    args = parser.parse_args()
    pm = ProducerMagager(address=('127.0.0.1', args.port),
                         authkey=os.environ['TASKWIRE_AUTHKEY'].encode())
    pm.connect()
    print(json.dumps({'event': 'connected'}), flush=True)
    task = pm.pq()
    sent = []
    for _ in range(args.count):
        r = random.randint(0, args.max)
        task.put(r)
        sent.append(r)
    print(json.dumps({'event': 'sent', 'values': [str(v) for v in sent]}), flush=True)


if __name__ == '__main__':
    main()
