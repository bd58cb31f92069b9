#!/usr/bin/python3
"""differential.py - uvstreams' standalone reader against asyncio.StreamReader.

Generates random scripts (feeds in random chunks, EOF, a stored exception,
every read kind with random sizes and separators, reads started while another
one waits, cancellations), runs each script on CPython's
asyncio.StreamReader and on a uvstreams reader through the C API (ctypes on
the shared library; no binding needed), and requires identical observable
behaviour at every step:

  - the outcome of every read: the bytes, or the exception and its fields
    (IncompleteReadError.partial/expected, LimitOverrunError.consumed, the
    ValueError of readline with its LimitOverrunError context, ValueError for
    bad arguments, RuntimeError for a second waiting reader, CancelledError,
    the stored exception), and whether it completed at once or had to wait;
  - after every step: len(reader._buffer) against "read_buffer_size",
    at_eof(), the stored exception, and AssertionError (feed_data after
    feed_eof) against UVS_EINVAL.

Scheduling: the engine evaluates a waiting read on every feed; asyncio only
when the waiting task runs. The asyncio side therefore lets the waiting task
run after every feed (await asyncio.sleep(0)), which is the case the engine
reproduces.

Separators: Debian 12's CPython is 3.11, whose readuntil takes one separator;
the multi-separator rules of 3.13 are covered by tests/fuzz/fuzz_reader.cc.

One documented difference is excluded by default (--strict includes it): the
C API's read(n < 0) keeps the bytes in the buffer until EOF, so that a
cancelled or timed-out read consumes nothing, while asyncio's read(-1) pulls
them out in limit-sized blocks as they arrive (and loses them if the read
fails). While a read(-1) waits, the buffer sizes differ and a second reader
finds data in the engine but not in asyncio; after a read(-1) fails, asyncio's
buffer has lost the bytes the engine still holds. With the default mode the
differential does not start a second reader while a read(-1) waits nor a
read(-1) while another reader waits (asyncio then empties the buffer before
it raises RuntimeError), does not
compare the buffer size while one waits, drops from the engine's buffer the
bytes asyncio's cancelled read(-1) lost, and stops comparing buffer size and
at_eof for a script after a read(-1) failed with the stored exception (every
later read raises it on both sides); it counts these cases and prints them. --strict compares everything and reports the first such divergence.

Usage: /usr/bin/python3 tests/fuzz/differential.py [--lib PATH] [--cases N]
           [--seed S] [--strict] [--verbose]
Exit status 0 when every case agrees, 1 on the first mismatch (the script of
the failing case is printed, with the seed to replay it).
"""

import argparse
import asyncio
import ctypes
import os
import random
import sys
import time

# ---- the C API ------------------------------------------------------------

UVS_PENDING, UVS_COMPLETED = 0, 1
E = {}  # name -> code, filled from the library's own table below


def load(path):
    lib = ctypes.CDLL(path)
    vp, i64, sz = ctypes.c_void_p, ctypes.c_int64, ctypes.c_size_t
    sigs = {
        "uvs_options_new": (ctypes.c_int, [ctypes.POINTER(vp)]),
        "uvs_options_set_int": (ctypes.c_int, [vp, ctypes.c_char_p, i64]),
        "uvs_options_free": (ctypes.c_int, [vp]),
        "uvs_reader_new": (ctypes.c_int, [vp, vp, ctypes.POINTER(vp)]),
        "uvs_reader_feed_data": (ctypes.c_int, [vp, ctypes.c_char_p, sz]),
        "uvs_reader_feed_eof": (ctypes.c_int, [vp]),
        "uvs_reader_set_error": (ctypes.c_int, [vp, ctypes.c_int]),
        "uvs_stream_free": (ctypes.c_int, [vp]),
        "uvs_stream_at_eof": (ctypes.c_int, [vp]),
        "uvs_stream_error": (ctypes.c_int, [vp]),
        "uvs_stream_get_int": (ctypes.c_int, [vp, ctypes.c_char_p, ctypes.POINTER(i64)]),
        "uvs_op_new": (ctypes.c_int, [vp, ctypes.c_uint64, ctypes.POINTER(vp)]),
        "uvs_op_free": (ctypes.c_int, [vp]),
        "uvs_op_cancel": (ctypes.c_int, [vp]),
        "uvs_op_is_done": (ctypes.c_int, [vp]),
        "uvs_op_result": (ctypes.c_int, [vp]),
        "uvs_op_data": (ctypes.c_int, [vp, ctypes.POINTER(vp), ctypes.POINTER(sz)]),
        "uvs_op_consumed": (i64, [vp]),
        "uvs_op_expected": (i64, [vp]),
        "uvs_stream_read_start": (ctypes.c_int, [vp, i64, vp]),
        "uvs_stream_readexactly_start": (ctypes.c_int, [vp, i64, vp]),
        "uvs_stream_readuntil_start": (ctypes.c_int, [vp, ctypes.c_char_p, sz, vp]),
        "uvs_stream_readline_start": (ctypes.c_int, [vp, vp]),
        "uvs_err_name": (ctypes.c_char_p, [ctypes.c_int]),
    }
    for name, (res, args) in sigs.items():
        f = getattr(lib, name)
        f.restype, f.argtypes = res, args
    for name in ("EINVAL", "EBUSY", "ELIMIT", "EINCOMPLETE", "ECANCELED",
                 "ECONNRESET", "EPIPE", "ETIMEDOUT", "ECONNABORTED"):
        # the codes are in the header; check the library agrees on the names
        code = {"EINVAL": -22, "EBUSY": -30003, "ELIMIT": -30004,
                "EINCOMPLETE": -30005, "ECANCELED": -125, "ECONNRESET": -104,
                "EPIPE": -32, "ETIMEDOUT": -110, "ECONNABORTED": -103}[name]
        got = lib.uvs_err_name(code).decode()
        if got != name:
            sys.exit(f"differential: uvs_err_name({code}) = {got}, expected {name}")
        E[name] = code
    return lib


# Stored exceptions: asyncio's exception class <-> the error code fed.
STORED = [(ConnectionResetError, "ECONNRESET"), (BrokenPipeError, "EPIPE"),
          (TimeoutError, "ETIMEDOUT"), (ConnectionAbortedError, "ECONNABORTED")]


class Engine:
    """One uvstreams reader driven through the C API."""

    def __init__(self, lib, limit):
        self.lib = lib
        o = ctypes.c_void_p()
        assert lib.uvs_options_new(ctypes.byref(o)) == 0
        assert lib.uvs_options_set_int(o, b"limit", limit) == 0
        self.s = ctypes.c_void_p()
        assert lib.uvs_reader_new(None, o, ctypes.byref(self.s)) == 0
        lib.uvs_options_free(o)
        self.tag = 0

    def close(self):
        assert self.lib.uvs_stream_free(self.s) == 0

    def feed(self, data):
        return self.lib.uvs_reader_feed_data(self.s, data, len(data))

    def feed_eof(self):
        return self.lib.uvs_reader_feed_eof(self.s)

    def set_error(self, code):
        return self.lib.uvs_reader_set_error(self.s, code)

    def start(self, kind, arg):
        """(rc, op): rc < 0 refused (op freed), else PENDING/COMPLETED."""
        lib = self.lib
        op = ctypes.c_void_p()
        self.tag += 1
        assert lib.uvs_op_new(None, self.tag, ctypes.byref(op)) == 0
        if kind == "read":
            rc = lib.uvs_stream_read_start(self.s, arg, op)
        elif kind == "readexactly":
            rc = lib.uvs_stream_readexactly_start(self.s, arg, op)
        elif kind == "readuntil":
            rc = lib.uvs_stream_readuntil_start(self.s, arg, len(arg), op)
        else:
            rc = lib.uvs_stream_readline_start(self.s, op)
        if rc < 0:
            lib.uvs_op_free(op)
            return rc, None
        return rc, op

    def done(self, op):
        return self.lib.uvs_op_is_done(op) == 1

    def outcome(self, kind, op):
        """The op's outcome in the same form as Asyncio.outcome; frees it."""
        lib = self.lib
        rc = lib.uvs_op_result(op)
        p, n = ctypes.c_void_p(), ctypes.c_size_t()
        assert lib.uvs_op_data(op, ctypes.byref(p), ctypes.byref(n)) == 0
        data = ctypes.string_at(p, n.value) if n.value else b""
        consumed, expected = lib.uvs_op_consumed(op), lib.uvs_op_expected(op)
        lib.uvs_op_free(op)
        return engine_outcome(kind, rc, data, consumed, expected)

    def cancel(self, op):
        assert self.lib.uvs_op_cancel(op) == 0

    def state(self):
        v = ctypes.c_int64()
        assert self.lib.uvs_stream_get_int(self.s, b"read_buffer_size", ctypes.byref(v)) == 0
        err = self.lib.uvs_stream_error(self.s)
        name = None
        for cls, ename in STORED:
            if E[ename] == err:
                name = cls.__name__
        return v.value, self.lib.uvs_stream_at_eof(self.s) == 1, name if err else None


def engine_outcome(kind, rc, data, consumed, expected):
    if rc == 0:
        return ("ok", data)
    if rc == E["EINCOMPLETE"]:
        return ("IncompleteReadError", data, None if expected < 0 else expected)
    if rc == E["ELIMIT"]:
        return ("ValueError-limit" if kind == "readline" else "LimitOverrunError", consumed)
    if rc == E["ECANCELED"]:
        return ("CancelledError",)
    for cls, name in STORED:
        if rc == E[name]:
            return (cls.__name__,)
    return ("code", rc)


def refused_outcome(rc):
    if rc == E["EINVAL"]:
        return ("ValueError-argument",)
    if rc == E["EBUSY"]:
        return ("RuntimeError-busy",)
    return ("code", rc)


def asyncio_outcome(kind, task):
    if task.cancelled():
        return ("CancelledError",)
    exc = task.exception()
    if exc is None:
        return ("ok", task.result())
    if isinstance(exc, asyncio.IncompleteReadError):
        return ("IncompleteReadError", exc.partial, exc.expected)
    if isinstance(exc, asyncio.LimitOverrunError):
        return ("LimitOverrunError", exc.consumed)
    if isinstance(exc, ValueError):
        ctx = exc.__context__
        if isinstance(ctx, asyncio.LimitOverrunError):
            return ("ValueError-limit", ctx.consumed)
        return ("ValueError-argument",)
    if isinstance(exc, RuntimeError) and "already waiting" in str(exc):
        return ("RuntimeError-busy",)
    for cls, _ in STORED:
        if type(exc) is cls:
            return (cls.__name__,)
    return ("exception", repr(exc))


# ---- scripts --------------------------------------------------------------

ALPHABET = b"ab\nX\r"
SEPARATORS = [b"\n", b"ab", b"aaa", b"\r\n", b"X", b"bX\n", b""]


def make_script(rng):
    limit = rng.choice([1, 2, 3, 4, 5, 8, 16, 64, rng.randint(1, 40)])
    steps = []
    p_error = 0.02 if rng.random() < 0.3 else 0.0
    for _ in range(rng.randint(1, 30)):
        r = rng.random()
        if r < 0.42:
            n = rng.choice([0, 1, 1, 2, 3, 5, 8, 20])
            steps.append(("feed", bytes(rng.choice(ALPHABET) for _ in range(n))))
        elif r < 0.46:
            steps.append(("feed_eof",))
        elif r < 0.46 + p_error:
            steps.append(("set_exception", rng.randrange(len(STORED))))
        elif r < 0.90:
            kind = rng.choice(["read", "readexactly", "readuntil", "readline"])
            if kind == "read":
                arg = rng.choice([-1, -1, 0, 1, 2, 3, 5, 100, -7])
            elif kind == "readexactly":
                arg = rng.choice([-1, 0, 1, 2, 3, 5, 10, 40])
            elif kind == "readuntil":
                arg = rng.choice(SEPARATORS)
            else:
                arg = None
            steps.append(("start", kind, arg))
        else:
            steps.append(("cancel",))
    return limit, steps


def describe(limit, steps):
    return f"limit={limit}\n" + "\n".join("  " + repr(s) for s in steps)


class Mismatch(Exception):
    pass


class Stats:
    def __init__(self):
        self.cases = self.steps = self.reads = self.waited = 0
        self.exempt_second_reader = self.exempt_buffer = self.exempt_after_failure = 0
        self.exempt_resync = 0
        self.outcomes = {}


async def run_case(lib, limit, steps, strict, stats):
    """Runs one script on both sides; raises Mismatch on any difference."""
    loop = asyncio.get_running_loop()
    a = asyncio.StreamReader(limit=limit, loop=loop)
    e = Engine(lib, limit)
    pending = None   # (kind, arg, task, op) of the waiting reader
    read_all_failed = False
    try:
        for i, step in enumerate(steps):
            stats.steps += 1
            where = f"step {i} {step!r}"
            if step[0] == "feed":
                try:
                    a.feed_data(step[1])
                    ares = "ok"
                except AssertionError:
                    ares = "AssertionError"
                rc = e.feed(step[1])
                eres = "ok" if rc == 0 else ("AssertionError" if rc == E["EINVAL"] else rc)
                if ares != eres:
                    raise Mismatch(f"{where}: asyncio {ares}, engine {eres}")
                if pending is not None:  # the waiting task runs after every feed
                    await asyncio.sleep(0)
            elif step[0] == "feed_eof":
                a.feed_eof()
                assert e.feed_eof() == 0
                if pending is not None:
                    await asyncio.sleep(0)
            elif step[0] == "set_exception":
                cls, name = STORED[step[1]]
                a.set_exception(cls())
                assert e.set_error(E[name]) == 0
                if pending is not None:
                    await asyncio.sleep(0)
            elif step[0] == "cancel":
                if pending is None:
                    continue
                kind, arg, task, op = pending
                task.cancel()
                e.cancel(op)
                await asyncio.sleep(0)
            elif step[0] == "start":
                kind, arg = step[1], step[2]
                read_all_waiting = (pending is not None and pending[0] == "read"
                                    and pending[1] < 0)
                # A read(-1) started while another reader waits: asyncio pulls
                # the buffered bytes out, then fails (RuntimeError) and loses
                # them; the engine refuses (UVS_EBUSY) having consumed nothing.
                second_read_all = (pending is not None and kind == "read"
                                   and arg < 0)
                if (read_all_waiting or second_read_all) and not strict:
                    stats.exempt_second_reader += 1
                    continue
                stats.reads += 1
                if kind == "read":
                    coro = a.read(arg)
                elif kind == "readexactly":
                    coro = a.readexactly(arg)
                elif kind == "readuntil":
                    coro = a.readuntil(arg)
                else:
                    coro = a.readline()
                task = loop.create_task(coro)
                await asyncio.sleep(0)  # its first step: completes or parks
                rc, op = e.start(kind, arg)
                if rc < 0:
                    if not task.done():
                        raise Mismatch(f"{where}: engine refused with "
                                       f"{refused_outcome(rc)}, asyncio waits")
                    got = asyncio_outcome(kind, task)
                    if got != refused_outcome(rc):
                        raise Mismatch(f"{where}: asyncio {got}, engine {refused_outcome(rc)}")
                    stats.outcomes[got[0]] = stats.outcomes.get(got[0], 0) + 1
                elif rc == UVS_COMPLETED:
                    if not task.done():
                        raise Mismatch(f"{where}: engine completed at once, asyncio waits")
                    check_outcome(where, kind, task, e.outcome(kind, op), stats)
                elif rc == UVS_PENDING:
                    if task.done():
                        raise Mismatch(f"{where}: engine waits, asyncio completed with "
                                       f"{asyncio_outcome(kind, task)}")
                    if pending is not None:
                        raise Mismatch(f"{where}: engine accepted a second waiting reader")
                    pending = (kind, arg, task, op)
                    stats.waited += 1
                else:
                    raise Mismatch(f"{where}: engine start returned {rc}")
            # The waiting reader: completed on both sides or on neither.
            if pending is not None:
                kind, arg, task, op = pending
                edone = e.done(op)
                if edone != task.done():
                    raise Mismatch(f"{where}: waiting {kind}({arg!r}) done: asyncio "
                                   f"{task.done()}, engine {edone}")
                if edone:
                    out = e.outcome(kind, op)
                    check_outcome(where, kind, task, out, stats)
                    pending = None
                    if kind == "read" and arg < 0 and out[0] != "ok" and not strict:
                        if out[0] == "CancelledError":
                            # asyncio dropped the blocks its read(-1) had pulled
                            # out; drop the same bytes on the engine side.
                            extra = e.state()[0] - len(a._buffer)
                            if extra > 0:
                                rc, op2 = e.start("read", extra)
                                if rc != UVS_COMPLETED:
                                    raise Mismatch(f"{where}: resync read: {rc}")
                                e.outcome("read", op2)
                            stats.exempt_resync += 1
                        else:
                            read_all_failed = True
            # The reader's state.
            size, at_eof, err = e.state()
            read_all_waiting = (pending is not None and pending[0] == "read"
                                and pending[1] < 0)
            exc = a.exception()
            aerr = type(exc).__name__ if exc is not None else None
            if aerr != err:
                raise Mismatch(f"{where}: exception() asyncio {aerr}, engine {err}")
            if not strict and (read_all_waiting or read_all_failed):
                if read_all_waiting:
                    stats.exempt_buffer += 1
                else:
                    stats.exempt_after_failure += 1
                continue
            if len(a._buffer) != size:
                raise Mismatch(f"{where}: buffer asyncio {bytes(a._buffer)!r} "
                               f"({len(a._buffer)} bytes), engine {size} bytes")
            if a.at_eof() != at_eof:
                raise Mismatch(f"{where}: at_eof asyncio {a.at_eof()}, engine {at_eof}")
        # The rest of the buffer, read back on both sides.
        if pending is not None:
            kind, arg, task, op = pending
            task.cancel()
            e.cancel(op)
            await asyncio.sleep(0)
            e.outcome(kind, op)
            pending = None
        if a.exception() is None and not read_all_failed:
            rest = bytes(a._buffer)
            rc, op = e.start("read", len(rest) or 1) if rest else (None, None)
            if rest:
                if rc != UVS_COMPLETED:
                    raise Mismatch(f"final read: engine {rc}")
                out = e.outcome("read", op)
                if out != ("ok", rest):
                    raise Mismatch(f"final buffer: asyncio {rest!r}, engine {out!r}")
    finally:
        if pending is not None:
            pending[2].cancel()
            e.cancel(pending[3])
            e.lib.uvs_op_free(pending[3])
        e.close()
        await asyncio.sleep(0)


def check_outcome(where, kind, task, engine_out, stats):
    got = asyncio_outcome(kind, task)
    if got != engine_out:
        raise Mismatch(f"{where}: {kind}: asyncio {got!r}, engine {engine_out!r}")
    stats.outcomes[got[0]] = stats.outcomes.get(got[0], 0) + 1


async def main_async(args, lib):
    stats = Stats()
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "little")
    t0 = time.monotonic()
    for case in range(args.first, args.first + args.cases):
        rng = random.Random(f"{seed}:{case}")
        limit, steps = make_script(rng)
        try:
            await run_case(lib, limit, steps, args.strict, stats)
        except Mismatch as m:
            print(f"MISMATCH in case {case} (replay: --seed {seed} --first {case} "
                  f"--cases 1):\n  {m}\nscript:\n{describe(limit, steps)}")
            return 1, stats, seed, time.monotonic() - t0
        stats.cases += 1
        if args.verbose and case % 5000 == 0 and case:
            print(f"  {case} cases...", flush=True)
    return 0, stats, seed, time.monotonic() - t0


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lib", default=os.path.join(here, "..", "..", "build", "lib",
                                                  "libuvstreams.so"))
    ap.add_argument("--cases", type=int, default=30000)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--first", type=int, default=0,
                    help="index of the first case (replays a reported case)")
    ap.add_argument("--strict", action="store_true")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    lib = load(args.lib)
    loop = asyncio.new_event_loop()
    try:
        rc, stats, seed, secs = loop.run_until_complete(main_async(args, lib))
    finally:
        loop.close()
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(stats.outcomes.items()))
    print(f"differential: {stats.cases} cases, {stats.steps} steps, {stats.reads} reads "
          f"({stats.waited} waited for data) in {secs:.1f} s, seed {seed}, "
          f"Python {sys.version.split()[0]}")
    print(f"  outcomes: {outcomes}")
    if not args.strict:
        print(f"  read(-1) exemptions (documented difference, --strict includes them): "
              f"{stats.exempt_second_reader} second readers not started, "
              f"{stats.exempt_buffer} buffer checks while read(-1) waited, "
              f"{stats.exempt_resync} cancelled read(-1) resynchronised, "
              f"{stats.exempt_after_failure} buffer checks after a read(-1) failed")
    print("PASS: differential" if rc == 0 else "FAIL: differential")
    return rc


if __name__ == "__main__":
    sys.exit(main())
