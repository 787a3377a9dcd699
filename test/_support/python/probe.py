"""Checks of the Python door from a real interpreter, one per subcommand.

  roundtrip     put one value of each type on pq, get each back, compare with
                the documented mapping (tuples come back as lists, ...)
  blocked-get   print ready, then block in pq.get() until interrupted
  hostile       put an object whose __reduce__ would run a command under
                CPython's own unpickler, then prove the connection still works
  bounded       queue.Full / queue.Empty / qsize / empty / full on 'bq'
  receive       get one value from pq and print its repr
  hold          get one value, print it, then sleep (the job stays held)
  oversized     put a str of --arg characters (over the door's limit), then qsize()
  put           put the int --arg on pq
  qsize         print pq.qsize()

Prints one JSON line per finding; exits 0 when every check passed.
Usage: probe.py COMMAND --port PORT [--arg X]   (key in TASKWIRE_AUTHKEY)
"""
import argparse
import json
import math
import os
import queue
import sys
import time
from multiprocessing.connection import Client
from multiprocessing.managers import BaseManager, RemoteError


class Manager(BaseManager):
    pass


for name in ('pq', 'cq', 'bq'):
    Manager.register(name)


def emit(**fields):
    print(json.dumps(fields), flush=True)


def connect(port):
    m = Manager(address=('127.0.0.1', port), authkey=os.environ['TASKWIRE_AUTHKEY'].encode())
    m.connect()
    return m


def expected(v):
    """What the door hands back for v (docs/PYTHON.md, the value mapping)."""
    if isinstance(v, float):
        # A whole float in the safe range travels as a JavaScript number and comes back an int.
        if v.is_integer() and abs(v) <= 2**53 - 1 and not (v == 0 and math.copysign(1, v) < 0):
            return int(v)
        return v
    if isinstance(v, (list, tuple)):
        return [expected(x) for x in v]
    if isinstance(v, (set, frozenset)):
        return {key(x) for x in v}
    if isinstance(v, dict):
        return {key(k): expected(x) for k, x in v.items()}
    return v


def key(k):
    """A dict key or set item comes back hashable: tuples stay tuples, frozensets too."""
    if isinstance(k, tuple):
        return tuple(key(x) for x in k)
    if isinstance(k, frozenset):
        return frozenset(key(x) for x in k)
    return expected(k)


def same(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or \
            (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


VALUES = [
    0, -1, 255, 2**31, 2**53 - 1, 2**53, 2**70, -2**70, 10**40,
    1.5, -0.0, float('inf'), float('-inf'), float('nan'), 3.0, 0.0,
    '', 'h\u00e9\u4e2d\U0001f600', 'x' * 1000, b'', b'\x00\xff' * 300,
    True, False, None,
    [], [1, [2, [3]]], (), (1, 'a'), {'a': 1, 'b': [True, None]},
    {1: 'x', (2, 3): None, 'k': 2.5}, {'__proto__': 1, 'constructor': 2},
    set(), {1, 2, 'z'}, frozenset({'f'}), {(1, 2), frozenset({3})},
    [{'deep': [{'er': (1, 2)}]}],
]


def roundtrip(args):
    m = connect(args.port)
    pq = m.pq()
    for v in VALUES:
        pq.put(v)
    bad = []
    for v in VALUES:
        got = pq.get(timeout=5)
        pq.task_done()  # the idiom; without it the last job would go back when this worker exits
        want = expected(v)
        if not same(got, want):
            bad.append('%r -> %r (expected %r)' % (v, got, want))
    emit(event='roundtrip', python=sys.version.split()[0], checked=len(VALUES), bad=bad)
    return not bad


def blocked_get(args):
    m = connect(args.port)
    pq = m.pq()
    pq.qsize()  # opens the method-call connection before "ready"
    emit(event='ready')
    try:
        v = pq.get()
        emit(event='got', value=repr(v))
    except KeyboardInterrupt:
        emit(event='interrupted')
    return True


class Evil(object):
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, ('touch ' + self.path,))


def hostile(args):
    m = connect(args.port)
    pq = m.pq()
    ok = True
    try:
        pq.put(Evil(args.arg))
        emit(event='stored')
        ok = False
    except RemoteError as e:
        emit(event='refused', message=str(e))
    # The same connection keeps working.
    pq.put(41)
    emit(event='after', value=pq.get(timeout=5))
    pq.task_done()  # finished: otherwise the job goes back when this worker exits
    # A hostile first request on a fresh connection, before any proxy exists.
    c = Client(('127.0.0.1', args.port), authkey=os.environ['TASKWIRE_AUTHKEY'].encode())
    c.send((None, 'create', (Evil(args.arg),), {}))
    kind, text = c.recv()
    emit(event='first', kind=kind, text=text)
    c.close()
    c = Client(('127.0.0.1', args.port), authkey=os.environ['TASKWIRE_AUTHKEY'].encode())
    c.send((None, 'shutdown', (), {}))
    kind, text = c.recv()
    emit(event='shutdown', kind=kind, text=text)
    c.close()
    return ok and kind == '#TRACEBACK'


def bounded(args):
    m = connect(args.port)
    bq = m.bq()
    results = {}
    results['empty0'] = bq.empty()
    try:
        bq.get_nowait()
        results['get_nowait'] = 'returned'
    except queue.Empty:
        results['get_nowait'] = 'Empty'
    t0 = time.time()
    try:
        bq.get(timeout=0.2)
        results['get_timeout'] = 'returned'
    except queue.Empty:
        results['get_timeout'] = 'Empty'
    results['get_waited'] = time.time() - t0 >= 0.19
    bq.put('a')
    bq.put_nowait('b')
    results['full'] = bq.full()
    results['qsize'] = bq.qsize()
    try:
        bq.put_nowait('c')
        results['put_nowait'] = 'returned'
    except queue.Full:
        results['put_nowait'] = 'Full'
    t0 = time.time()
    try:
        bq.put('c', True, 0.2)
        results['put_timeout'] = 'returned'
    except queue.Full:
        results['put_timeout'] = 'Full'
    results['put_waited'] = time.time() - t0 >= 0.19
    results['first'] = bq.get(False)
    bq.task_done()
    results['second'] = bq.get(block=True, timeout=1)
    results['empty1'] = bq.empty()
    try:
        bq.join()
        results['join'] = 'returned'
    except AttributeError:
        results['join'] = 'AttributeError'
    emit(event='bounded', **results)
    return True


def receive(args):
    m = connect(args.port)
    pq = m.pq()
    v = pq.get(timeout=float(args.arg or 10))
    emit(event='received', value=repr(v))
    return True


def hold(args):
    m = connect(args.port)
    pq = m.pq()  # kept: a proxy that is collected closes its thread's connection
    v = pq.get(timeout=10)
    emit(event='holding', value=repr(v))
    while True:
        time.sleep(3600)
    return pq


def oversized(args):
    m = connect(args.port)
    pq = m.pq()
    try:
        pq.put('x' * int(args.arg))
        emit(event='stored')
        return False
    except RemoteError as e:
        emit(event='refused', message=str(e))
    emit(event='after', qsize=pq.qsize())
    return True


def put(args):
    m = connect(args.port)
    pq = m.pq()
    pq.put(int(args.arg))
    emit(event='put')
    return True


def qsize(args):
    m = connect(args.port)
    pq = m.pq()
    emit(event='qsize', qsize=pq.qsize())
    return True


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('command')
    parser.add_argument('--port', type=int, required=True)
    parser.add_argument('--arg', default=None)
    args = parser.parse_args()
    commands = {'roundtrip': roundtrip, 'blocked-get': blocked_get, 'hostile': hostile,
                'bounded': bounded, 'receive': receive, 'hold': hold, 'oversized': oversized,
                'put': put, 'qsize': qsize}
    sys.exit(0 if commands[args.command](args) else 1)


if __name__ == '__main__':
    main()
