"""The shared conformance scenarios (tests/conformance/scenarios.txt, format
in tests/conformance/FORMAT.md), run twice each:

- test_uvstreams[<scenario>]: against uvstreams.sync, the blocking API;
- test_asyncio[<scenario>]: against the standard library's asyncio streams,
  the oracle: a scenario that fails there is a wrong scenario.

Only meaningful under tests/conformance/run.sh, which starts the reference
peer and sets the UVS_CONFORMANCE_* variables (make test-conformance-python);
without them every test fails. The folder's conftest.py leaves this file
out of a plain `pytest bindings/python/tests` run (make test-python).

One executor interprets the steps for both; each implementation is a small
driver whose methods are plain calls (uvstreams.sync) or coroutines
(asyncio), awaited when they are awaitable.
"""

import asyncio
import inspect
import os
import sys

import pytest

import conformance_scenarios as cs

SAFETY_TIMEOUT = 30.0  # seconds, for steps without timeout= (FORMAT.md)
ENV = ('UVS_CONFORMANCE_SCENARIOS', 'UVS_CONFORMANCE_HOST',
       'UVS_CONFORMANCE_PORT', 'UVS_CONFORMANCE_UNIX',
       'UVS_CONFORMANCE_CLOSED_PORT')

# Scenarios where uvstreams.sync differs from asyncio: known bugs, reported.
# name -> (reason, strict). Strict xfail so that a fix shows up, except for
# the bugs that depend on timing (they show in most runs, not all).
UVSTREAMS_KNOWN_BUGS = {}  # none open (D11 and the write after a loss fixed)


def _scenario_file():
    path = os.environ.get('UVS_CONFORMANCE_SCENARIOS')
    if path:
        return path
    # outside run.sh: still list the scenarios, so that each test fails
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(here, '..', '..', '..', 'tests', 'conformance',
                        'scenarios.txt')


def _selected():
    scenarios = cs.load(_scenario_file())
    only = os.environ.get('UVS_CONFORMANCE_ONLY')
    if only:
        scenarios = [s for s in scenarios if s.name == only]
    return scenarios


SCENARIOS = _selected()


def _record_expected_failures():
    """Tells run.sh which scenarios are expected to fail here, so that the
    peer's failures for them do not fail the run (FORMAT.md, Running)."""
    path = os.environ.get('UVS_CONFORMANCE_EXPECTED_FAILURES')
    names = [s.name for s in SCENARIOS if s.name in UVSTREAMS_KNOWN_BUGS]
    if path and names:
        with open(path, 'a', encoding='utf-8') as f:
            f.writelines(name + '\n' for name in names)


_record_expected_failures()


def _require_environment():
    missing = [name for name in ENV if not os.environ.get(name)]
    if missing:
        pytest.fail('the conformance runner only runs under '
                    'tests/conformance/run.sh (make test-conformance-python); '
                    'missing: ' + ', '.join(missing), pytrace=False)


# ---- drivers ----------------------------------------------------------------


class SyncDriver:
    """uvstreams.sync: blocking calls with their timeout argument."""

    name = 'uvstreams'

    def __init__(self):
        import uvstreams.sync
        from uvstreams import _core
        self.sync = uvstreams.sync
        self.c = _core._c
        self.s = None

    def connect(self, unix, limit, high, low):
        kw = {} if limit is None else {'limit': limit}
        if unix:
            self.s = self.sync.connect_unix(os.environ['UVS_CONFORMANCE_UNIX'],
                                            timeout=SAFETY_TIMEOUT, **kw)
        else:
            self.s = self.sync.connect(os.environ['UVS_CONFORMANCE_HOST'],
                                       int(os.environ['UVS_CONFORMANCE_PORT']),
                                       timeout=SAFETY_TIMEOUT, **kw)
        if high is not None or low is not None:
            # uvstreams.sync.Stream has no set_write_buffer_limits: the C call
            rc = self.c.uvs_stream_set_write_limits(
                self.s._s, -1 if high is None else high,
                -1 if low is None else low)
            assert rc == 0, f'uvs_stream_set_write_limits: {rc}'

    def connect_refused(self):
        self.sync.connect(os.environ['UVS_CONFORMANCE_HOST'],
                          int(os.environ['UVS_CONFORMANCE_CLOSED_PORT']),
                          timeout=SAFETY_TIMEOUT)

    def write(self, data):
        self.s.write(data)

    def writelines(self, chunks):
        self.s.writelines(chunks)

    def write_eof(self):
        self.s.write_eof()

    def drain(self, timeout):
        self.s.drain(timeout=timeout)

    def read(self, n, timeout):
        return self.s.read(n, timeout=timeout)

    def readline(self, timeout):
        return self.s.readline(timeout=timeout)

    def readexactly(self, n, timeout):
        return self.s.readexactly(n, timeout=timeout)

    def readuntil(self, sep, timeout):
        return self.s.readuntil(sep, timeout=timeout)

    def close(self):
        s, self.s = self.s, None
        s.close()
        s.wait_closed(timeout=SAFETY_TIMEOUT)

    def is_open(self):
        return self.s is not None


class AsyncioDriver:
    """The standard library's asyncio streams; timeouts by wait_for."""

    name = 'asyncio'

    def __init__(self):
        self.reader = self.writer = None

    @staticmethod
    async def _timed(coro, timeout):
        return await asyncio.wait_for(coro, timeout)

    async def connect(self, unix, limit, high, low):
        kw = {} if limit is None else {'limit': limit}
        if unix:
            coro = asyncio.open_unix_connection(
                os.environ['UVS_CONFORMANCE_UNIX'], **kw)
        else:
            coro = asyncio.open_connection(
                os.environ['UVS_CONFORMANCE_HOST'],
                int(os.environ['UVS_CONFORMANCE_PORT']), **kw)
        self.reader, self.writer = await self._timed(coro, SAFETY_TIMEOUT)
        if high is not None or low is not None:
            self.writer.transport.set_write_buffer_limits(high=high, low=low)

    async def connect_refused(self):
        _, writer = await self._timed(asyncio.open_connection(
            os.environ['UVS_CONFORMANCE_HOST'],
            int(os.environ['UVS_CONFORMANCE_CLOSED_PORT'])), SAFETY_TIMEOUT)
        writer.close()

    def write(self, data):
        self.writer.write(data)

    def writelines(self, chunks):
        self.writer.writelines(chunks)

    def write_eof(self):
        self.writer.write_eof()

    async def drain(self, timeout):
        await self._timed(self.writer.drain(), timeout)

    async def read(self, n, timeout):
        return await self._timed(self.reader.read(n), timeout)

    async def readline(self, timeout):
        return await self._timed(self.reader.readline(), timeout)

    async def readexactly(self, n, timeout):
        return await self._timed(self.reader.readexactly(n), timeout)

    async def readuntil(self, sep, timeout):
        return await self._timed(self.reader.readuntil(sep), timeout)

    async def close(self):
        writer, self.writer = self.writer, None
        writer.close()
        await self._timed(writer.wait_closed(), SAFETY_TIMEOUT)

    def is_open(self):
        return self.writer is not None


# ---- the executor -----------------------------------------------------------


class SafetyTimeout(Exception):
    pass


def classify(step, exc):
    """(kind, attributes) of an exception, in the format's terms."""
    if isinstance(exc, asyncio.IncompleteReadError):
        return 'incomplete', {'partial': exc.partial,
                              'expected': exc.expected}
    if isinstance(exc, asyncio.LimitOverrunError):
        return 'limit_overrun', {'consumed': exc.consumed}
    if isinstance(exc, ValueError):
        # readline reports the limit with ValueError, and takes no argument
        # that could be invalid
        if step.name == 'readline':
            return 'limit_overrun', {}
        return 'invalid', {}
    if isinstance(exc, TimeoutError):  # asyncio.TimeoutError is it (3.11)
        return 'timeout', {}
    if isinstance(exc, ConnectionRefusedError):
        return 'refused', {}
    if isinstance(exc, (ConnectionResetError, BrokenPipeError)):
        return 'reset', {}
    return None, {}


def _describe(exc):
    return f'{type(exc).__name__}: {exc}'


async def _call(driver, step, timeout):
    """Performs one step once; its result (bytes for reads, else None)."""
    name, args = step.name, step.args
    if name == 'connect':
        opt = step.opts
        await _maybe(driver.connect(
            'unix' in args,
            int(opt['limit']) if 'limit' in opt else None,
            int(opt['write_high']) if 'write_high' in opt else None,
            int(opt['write_low']) if 'write_low' in opt else None))
        return None
    if name == 'connect_refused':
        return await _maybe(driver.connect_refused())
    if name == 'write':
        return driver.write(args[0])
    if name == 'writelines':
        return driver.writelines(list(args))
    if name == 'write_eof':
        return driver.write_eof()
    if name == 'drain':
        return await _maybe(driver.drain(timeout))
    if name == 'read':
        return await _maybe(driver.read(args[0], timeout))
    if name == 'readline':
        return await _maybe(driver.readline(timeout))
    if name == 'readexactly':
        return await _maybe(driver.readexactly(args[0], timeout))
    if name == 'readuntil':
        return await _maybe(driver.readuntil(args[0], timeout))
    if name == 'readuntil_any':
        return await _maybe(driver.readuntil(tuple(args), timeout))
    if name == 'close':
        return await _maybe(driver.close())
    raise AssertionError(f'unknown step {name}')


async def _maybe(value):
    if inspect.isawaitable(value):
        return await value
    return value


def _check(step, expect, result, exc):
    where = f'{step!r} (expected {expect!r})'
    if exc is not None:
        kind, attrs = classify(step, exc)
        if isinstance(exc, SafetyTimeout):
            raise AssertionError(f'{where}: no result after {SAFETY_TIMEOUT} '
                                 f's (safety timeout)')
        if expect.kind in ('ok', 'bytes'):
            raise AssertionError(f'{where}: raised {_describe(exc)}') from exc
        if kind != expect.kind:
            raise AssertionError(f'{where}: raised {_describe(exc)} '
                                 f'(kind {kind})') from exc
        for key, want in expect.attrs.items():
            if kind == 'limit_overrun' and step.name == 'readline':
                continue  # asyncio's ValueError has no consumed
            got = attrs.get(key)
            if got != want:
                raise AssertionError(f'{where}: {key} is {cs.short(got)}, '
                                     f'expected {cs.short(want)}') from exc
        return
    if expect.kind == 'ok':
        return
    if expect.kind == 'bytes':
        if result != expect.value:
            detail = ''
            if isinstance(result, (bytes, bytearray)):
                n = next((i for i, (a, b) in enumerate(zip(result,
                                                           expect.value))
                          if a != b), min(len(result), len(expect.value)))
                detail = (f' ({len(result)} bytes, {len(expect.value)} '
                          f'expected, first difference at {n})')
            raise AssertionError(f'{where}: returned {cs.short(result)}'
                                 f'{detail}')
        return
    raise AssertionError(f'{where}: succeeded (returned '
                         f'{cs.short(result)})')


async def run_scenario(driver, scenario):
    try:
        for step in scenario.steps:
            timeout = None
            if 'timeout' in step.opts:
                timeout = int(step.opts['timeout']) / 1000
            for _ in range(step.repeat):
                result = exc = None
                try:
                    result = await _call(driver, step,
                                         SAFETY_TIMEOUT if timeout is None
                                         else timeout)
                except TimeoutError as e:
                    exc = e if timeout is not None else SafetyTimeout()
                except Exception as e:  # noqa: BLE001 - classified below
                    exc = e
                _check(step, step.expect, result, exc)
                if step.name == 'connect':
                    await _maybe(driver.write(
                        f'SCENARIO {scenario.name}\n'.encode()))
                    await _maybe(driver.drain(SAFETY_TIMEOUT))
    finally:
        if driver.is_open():
            try:
                await _maybe(driver.close())
            except Exception:  # noqa: BLE001 - the stream may be broken
                pass


def _params(scenarios, marks_for):
    return [pytest.param(s, id=s.name, marks=marks_for(s)) for s in scenarios]


def _uvstreams_marks(scenario):
    bug = UVSTREAMS_KNOWN_BUGS.get(scenario.name)
    if bug:
        reason, strict = bug
        return [pytest.mark.xfail(strict=strict, reason=reason)]
    return []


def test_found_scenarios():
    """A runner that finds no scenario fails (FORMAT.md)."""
    _require_environment()
    assert SCENARIOS, (
        f'no scenario in {_scenario_file()}' + (
            f' named {os.environ["UVS_CONFORMANCE_ONLY"]}'
            if os.environ.get('UVS_CONFORMANCE_ONLY') else ''))


@pytest.mark.parametrize('scenario', _params(SCENARIOS, _uvstreams_marks))
def test_uvstreams(scenario):
    _require_environment()
    asyncio.run(run_scenario(SyncDriver(), scenario))


@pytest.mark.parametrize('scenario', _params(SCENARIOS, lambda s: []))
def test_asyncio(scenario):
    _require_environment()
    if scenario.uses('readuntil_any') and sys.version_info < (3, 13):
        pytest.skip('readuntil with a tuple of separators needs asyncio 3.13 '
                    f'(this is Python {sys.version.split()[0]})')
    asyncio.run(run_scenario(AsyncioDriver(), scenario))
