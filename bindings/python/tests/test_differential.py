"""Differential test: the same random chunkings and read sequences fed to
asyncio.StreamReader and to uvstreams.StreamReader must give identical
results and exceptions (type, message, partial/expected/consumed).

The interpreter here is 3.11, whose asyncio knows single separators only;
tuples of separators arrived in 3.13, so the reference reader is asyncio's
with readuntil() written after the 3.13 algorithm (spec section 2.8).

A scenario is a limit, a list of chunks (from a small alphabet, so that
separators and limits are hit often) fed one per loop iteration by a feeder
task and then EOF, and a list of reads performed by a reader task
concurrently. Runs on both loops, with a fixed seed per scenario so that a
failure names a reproducible case."""

import asyncio
import random

import pytest

import uvstreams

SEPARATORS = [b'\n', b'ab', b'\r\n', b'aab', (b'\n', b'\r'), (b'a', b'bb'),
              (b'ba', b'\n', b'abab'), bytearray(b'b\n'), b'', ()]
ALPHABET = b'ab\n\r'


class Reference(asyncio.StreamReader):
    """asyncio.StreamReader with the 3.13 readuntil (tuple separators)."""

    async def readuntil(self, separator=b'\n'):
        seps = list(separator) if isinstance(separator, tuple) else \
            [separator]
        if not seps:
            raise ValueError('Separator should contain at least one element')
        seps.sort(key=len)
        if not seps[0]:
            raise ValueError('Separator should be at least one-byte string')
        if self._exception is not None:
            raise self._exception
        shortest, longest = len(seps[0]), len(seps[-1])
        offset = 0
        while True:
            buflen = len(self._buffer)
            if buflen - offset >= shortest:
                start = end = None
                for sep in seps:
                    i = self._buffer.find(sep, offset)
                    if i != -1 and (end is None or i + len(sep) < end):
                        start, end = i, i + len(sep)
                if end is not None:
                    break
                offset = max(0, buflen + 1 - longest)
                if offset > self._limit:
                    raise asyncio.LimitOverrunError(
                        'Separator is not found, and chunk exceed the limit',
                        offset)
            if self._eof:
                chunk = bytes(self._buffer)
                self._buffer.clear()
                raise asyncio.IncompleteReadError(chunk, None)
            await self._wait_for_data('readuntil')
        if start > self._limit:
            raise asyncio.LimitOverrunError(
                'Separator is found, but chunk is longer than limit', start)
        chunk = bytes(self._buffer[:end])
        del self._buffer[:end]
        self._maybe_resume_transport()
        return chunk


def random_scenario(rng):
    limit = rng.choice([1, 2, 3, 5, 8, 13, 2 ** 16])
    chunks = [bytes(rng.choice(ALPHABET) for _ in range(rng.randint(0, 9)))
              for _ in range(rng.randint(0, 12))]
    reads = []
    for _ in range(rng.randint(1, 10)):
        kind = rng.choice(['read', 'readline', 'readexactly', 'readuntil',
                           'at_eof'])
        if kind == 'read':
            reads.append((kind, rng.choice([-1, 0, 1, 2, 5, 100])))
        elif kind == 'readexactly':
            reads.append((kind, rng.choice([-1, 0, 1, 3, 7, 20])))
        elif kind == 'readuntil':
            reads.append((kind, rng.choice(SEPARATORS)))
        else:
            reads.append((kind, None))
    return limit, chunks, reads


def outcome(exc):
    """What must match for an exception."""
    info = [type(exc).__name__, str(exc)]
    for attr in ('partial', 'expected', 'consumed'):
        if hasattr(exc, attr):
            info.append(getattr(exc, attr))
    return tuple(info)


async def play(cls, limit, chunks, reads):
    reader = cls(limit=limit)
    log = []

    async def feeder():
        for chunk in chunks:
            await asyncio.sleep(0)
            reader.feed_data(chunk)
        await asyncio.sleep(0)
        reader.feed_eof()

    async def consumer():
        for kind, arg in reads:
            try:
                if kind == 'at_eof':
                    log.append(('at_eof', reader.at_eof()))
                    continue
                method = getattr(reader, kind)
                result = await (method() if arg is None and kind == 'readline'
                                else method(arg))
                log.append(('ok', kind, result))
            except (ValueError, EOFError, asyncio.LimitOverrunError) as exc:
                log.append(('exc', kind) + outcome(exc))
        log.append(('rest', await reader.read()))

    feed = asyncio.ensure_future(feeder())
    await consumer()
    await feed
    return log


@pytest.mark.parametrize('seed', range(60))
def test_same_results_as_asyncio(loop, run, seed):
    rng = random.Random(seed)
    for _ in range(5):
        limit, chunks, reads = random_scenario(rng)
        expected = run(play(Reference, limit, chunks, reads))
        got = run(play(uvstreams.StreamReader, limit, chunks, reads))
        assert got == expected, (limit, chunks, reads)
