"""StreamReader built by hand and fed with feed_data()/feed_eof(), as in
asyncio's own unit tests: every edge case of the reference table (spec
section 2.16), the limit and separator rules, stored exceptions, concurrent
readers, cancellation, async iteration, repr and the two exceptions. Each
test runs on asyncio's default loop and on uvloop (the ``loop`` fixture);
readers are created outside the running loop with loop=, as asyncio's tests
do, and what is left in the buffer is checked by reading it back."""

import asyncio
import pickle

import pytest

import uvstreams


def make(loop, *chunks, limit=None, eof=False):
    reader = (uvstreams.StreamReader(loop=loop) if limit is None else
              uvstreams.StreamReader(limit=limit, loop=loop))
    for chunk in chunks:
        reader.feed_data(chunk)
    if eof:
        reader.feed_eof()
    return reader


def rest(run, reader):
    """What is left in the buffer (ends the stream)."""
    reader.feed_eof()
    return run(reader.read())


def test_exceptions_are_asyncios():
    assert uvstreams.IncompleteReadError is asyncio.IncompleteReadError
    assert uvstreams.LimitOverrunError is asyncio.LimitOverrunError


@pytest.mark.parametrize('limit', [0, -1])
def test_invalid_limit(loop, limit):
    with pytest.raises(ValueError, match='imit'):
        uvstreams.StreamReader(limit=limit, loop=loop)


def test_feed_empty_data(loop, run):
    reader = make(loop, b'')
    assert rest(run, reader) == b''


def test_feed_nonempty_data(loop, run):
    reader = make(loop, b'line1\nline2\n')
    assert rest(run, reader) == b'line1\nline2\n'


def test_read_zero_leaves_buffer(loop, run):
    reader = make(loop, b'line1\nline2\nline3\n')
    assert run(reader.read(0)) == b''
    assert rest(run, reader) == b'line1\nline2\nline3\n'


def test_pending_read_satisfied_by_later_feed(loop, run):
    reader = make(loop)

    async def go():
        task = asyncio.ensure_future(reader.read(30))
        await asyncio.sleep(0)
        assert not task.done()
        reader.feed_data(b'chunk1\n')
        return await task
    assert run(go()) == b'chunk1\n'


def test_read_across_feeds(loop, run):
    reader = make(loop, b'line1', b'line2')
    assert run(reader.read(5)) == b'line1'
    assert rest(run, reader) == b'line2'


def test_read_not_bounded_by_limit(loop, run):
    reader = make(loop, b'chunk', limit=3)
    assert run(reader.read(5)) == b'chunk'
    assert rest(run, reader) == b''


def test_pending_read_gets_empty_at_eof(loop, run):
    reader = make(loop)

    async def go():
        task = asyncio.ensure_future(reader.read(1024))
        await asyncio.sleep(0)
        reader.feed_eof()
        return await task
    assert run(go()) == b''


def test_read_until_eof(loop, run):
    reader = make(loop)

    async def go():
        task = asyncio.ensure_future(reader.read(-1))
        await asyncio.sleep(0)
        reader.feed_data(b'chunk1\n')
        reader.feed_data(b'chunk2')
        reader.feed_eof()
        return await task
    assert run(go()) == b'chunk1\nchunk2'
    assert run(reader.read()) == b''


def test_readline_across_feeds(loop, run):
    reader = make(loop, b'chunk1 ')

    async def go():
        task = asyncio.ensure_future(reader.readline())
        await asyncio.sleep(0)
        reader.feed_data(b'chunk2 ')
        await asyncio.sleep(0)
        reader.feed_data(b'chunk3 ')
        await asyncio.sleep(0)
        reader.feed_data(b'\n chunk4')
        return await task
    assert run(go()) == b'chunk1 chunk2 chunk3 \n'
    assert rest(run, reader) == b' chunk4'


def test_readline_limit_found_consumes_the_line(loop, run):
    reader = make(loop, b'line1\nline2\n', limit=3)
    with pytest.raises(ValueError):
        run(reader.readline())
    assert rest(run, reader) == b'line2\n'


def test_readline_limit_not_found_clears_buffer(loop, run):
    reader = make(loop, b'line1li', limit=3)
    with pytest.raises(ValueError):
        run(reader.readline())
    assert rest(run, reader) == b''


def test_readline_limit_then_next_line(loop, run):
    reader = make(loop, b'chunk1chunk2\nchunk3\n', limit=7, eof=True)
    with pytest.raises(ValueError):
        run(reader.readline())
    assert run(reader.read()) == b'chunk3\n'


def test_readline_limit_strict_boundary(loop, run):
    reader = make(loop, b'1234567\n', limit=7)
    assert run(reader.readline()) == b'1234567\n'
    reader.feed_data(b'12345678\n')
    with pytest.raises(ValueError) as info:
        run(reader.readline())
    assert isinstance(info.value.__context__, asyncio.LimitOverrunError) or \
        info.value.__context__ is None
    assert rest(run, reader) == b''


def test_readline_limit_while_waiting(loop, run):
    reader = make(loop, limit=7)

    async def go():
        task = asyncio.ensure_future(reader.readline())
        for chunk in (b'chunk1', b'chunk2', b'chunk3\n'):
            await asyncio.sleep(0)
            reader.feed_data(chunk)
        reader.feed_eof()
        with pytest.raises(ValueError):
            await task
    run(go())
    # chunk1 and chunk2 overran the limit (not found: cleared); chunk3
    # arrived after the error
    assert run(reader.read()) == b'chunk3\n'


def test_several_feeds_in_one_iteration_reach_one_waiter(loop, run):
    # asyncio evaluates a waiting read when the woken task runs, after
    # every feed of that loop iteration
    reader = make(loop)

    async def go():
        task = asyncio.ensure_future(reader.read(30))
        await asyncio.sleep(0)
        reader.feed_data(b'ab')
        reader.feed_data(b'cd')
        return await task
    assert run(go()) == b'abcd'


def test_several_feeds_then_eof_in_one_iteration(loop, run):
    reader = make(loop, limit=4)

    async def go():
        task = asyncio.ensure_future(reader.readuntil(b'|'))
        await asyncio.sleep(0)
        reader.feed_data(b'ab')       # alone: no separator, within limit
        reader.feed_data(b'cdef|')    # with it: separator beyond the limit
        with pytest.raises(asyncio.LimitOverrunError,
                           match='Separator is found, but chunk is longer '
                                 'than limit') as info:
            await task
        return info.value.consumed
    assert run(go()) == 6
    assert rest(run, reader) == b'abcdef|'


def test_waiting_read_cancelled_after_feed_keeps_data(loop, run):
    reader = make(loop)

    async def go():
        task = asyncio.ensure_future(reader.readline())
        await asyncio.sleep(0)
        reader.feed_data(b'line\n')
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert repr(reader) == '<StreamReader 5 bytes>'
        return await reader.readline()
    assert run(go()) == b'line\n'


@pytest.mark.parametrize('chunks, message', [
    ([b'0123456789\n'], 'Separator is found, but chunk is longer than limit'),
    ([b'0123456789'], 'Separator is not found, and chunk exceed the limit'),
])
def test_readline_limit_messages(loop, run, chunks, message):
    reader = make(loop, *chunks, limit=5)
    with pytest.raises(ValueError) as info:
        run(reader.readline())
    assert type(info.value) is ValueError
    assert str(info.value) == message


@pytest.mark.parametrize('waiting', [False, True])
def test_readuntil_limit_messages_exact(loop, run, waiting):
    reader = make(loop, limit=5)

    async def go():
        task = asyncio.ensure_future(reader.readuntil(b'||'))
        if waiting:
            await asyncio.sleep(0)
        reader.feed_data(b'0123456789')
        with pytest.raises(asyncio.LimitOverrunError) as info:
            await task
        assert info.value.args == (
            'Separator is not found, and chunk exceed the limit',)
        assert info.value.consumed == 9
        reader.feed_data(b'||')
        with pytest.raises(asyncio.LimitOverrunError) as info:
            await reader.readuntil(b'||')
        assert info.value.args == (
            'Separator is found, but chunk is longer than limit',)
        assert info.value.consumed == 10
    run(go())
    assert rest(run, reader) == b'0123456789||'


def test_readline_buffered_no_wait(loop, run):
    reader = make(loop, b'line1\nline2\nline3\n')
    assert run(reader.readline()) == b'line1\n'
    assert rest(run, reader) == b'line2\nline3\n'


def test_readline_partial_at_eof(loop, run):
    assert run(make(loop, b'some data', eof=True).readline()) == b'some data'


def test_readline_empty_at_eof(loop, run):
    assert run(make(loop, eof=True).readline()) == b''


def test_readline_then_read(loop, run):
    reader = make(loop, b'line1\nline2\nline3\n')
    assert run(reader.readline()) == b'line1\n'
    assert run(reader.read(7)) == b'line2\nl'
    assert rest(run, reader) == b'ine3\n'


def test_at_eof(loop, run):
    reader = make(loop)
    assert not reader.at_eof()
    reader.feed_data(b'some data\n')
    assert not reader.at_eof()
    run(reader.readline())
    assert not reader.at_eof()
    reader.feed_data(b'some data\n')
    reader.feed_eof()
    run(reader.readline())
    assert reader.at_eof()


def test_feed_after_eof_asserts(loop):
    reader = make(loop, eof=True)
    with pytest.raises(AssertionError):
        reader.feed_data(b'late')


@pytest.mark.parametrize('separator', [b'', (b'',), ()])
def test_readuntil_bad_separator(loop, run, separator):
    reader = make(loop, b'data')
    with pytest.raises(ValueError, match='Separator should'):
        run(reader.readuntil(separator))
    assert rest(run, reader) == b'data'


def test_readuntil_multi_byte_separator(loop, run):
    reader = make(loop, b'lineAAA', b'line2AAA', b'xx')
    assert run(reader.readuntil(b'AAA')) == b'lineAAA'
    assert run(reader.readuntil(b'AAA')) == b'line2AAA'
    assert rest(run, reader) == b'xx'


@pytest.mark.parametrize('chunks', [
    [b'QWEaa', b'XYaa', b'a'],
    [b'QWEaa', b'XYa', b'aa'],
    [b'QWEaaXYaaa'],
    [b'Q', b'W', b'E', b'a', b'a', b'X', b'Y', b'a', b'a', b'a'],
])
def test_readuntil_separator_split_across_feeds(loop, run, chunks):
    reader = make(loop)

    async def go():
        task = asyncio.ensure_future(reader.readuntil(b'aaa'))
        for chunk in chunks:
            await asyncio.sleep(0)
            reader.feed_data(chunk)
        return await task
    assert run(go()) == b'QWEaaXYaaa'
    assert rest(run, reader) == b''


def test_readuntil_eof(loop, run):
    reader = make(loop, b'some dataAA', eof=True)
    with pytest.raises(asyncio.IncompleteReadError) as info:
        run(reader.readuntil(b'AAA'))
    assert info.value.partial == b'some dataAA'
    assert info.value.expected is None
    assert 'undefined expected bytes' in str(info.value)
    assert run(reader.read()) == b''


def test_readuntil_limit_both_messages(loop, run):
    reader = make(loop, b'some dataAA', limit=3)
    with pytest.raises(asyncio.LimitOverrunError, match='not found') as info:
        run(reader.readuntil(b'AAA'))
    assert info.value.consumed == 9
    reader.feed_data(b'A')
    with pytest.raises(asyncio.LimitOverrunError, match='is found') as info:
        run(reader.readuntil(b'AAA'))
    assert info.value.consumed == 9
    assert rest(run, reader) == b'some dataAAA'


def test_readuntil_limit_recover_with_read(loop, run):
    reader = make(loop, b'0123456789|rest', limit=4)
    with pytest.raises(asyncio.LimitOverrunError) as info:
        run(reader.readuntil(b'|'))
    assert run(reader.read(info.value.consumed)) == b'0123456789'
    assert run(reader.readuntil(b'|')) == b'|'


def test_readuntil_tuple_of_separators(loop, run):
    reader = make(loop, b'line 1\nline 2\r')
    assert run(reader.readuntil((b'\r', b'\n'))) == b'line 1\n'
    assert run(reader.readuntil((b'\r', b'\n'))) == b'line 2\r'
    assert rest(run, reader) == b''


def test_readuntil_earliest_end_wins(loop, run):
    reader = make(loop, b'ABCDEFG')
    assert run(reader.readuntil((b'DEF', b'BCDE'))) == b'ABCDE'
    assert rest(run, reader) == b'FG'


def test_readuntil_tuple_limit_uses_shortest_match(loop, run):
    reader = make(loop, b'some dataA', limit=3)
    with pytest.raises(asyncio.LimitOverrunError, match='is found'):
        run(reader.readuntil((b'A', b'ome dataA')))
    assert rest(run, reader) == b'some dataA'


def test_readuntil_tuple_offset_clamped_while_waiting(loop, run):
    reader = make(loop)

    async def go():
        task = asyncio.ensure_future(reader.readuntil((b'A', b'long sep')))
        await asyncio.sleep(0)
        reader.feed_data(b'data')
        await asyncio.sleep(0)
        reader.feed_data(b'Z')
        await asyncio.sleep(0)
        reader.feed_data(b'Aaaa')
        return await task
    assert run(go()) == b'dataZA'
    assert rest(run, reader) == b'aaa'


@pytest.mark.parametrize('kind', [bytearray, memoryview])
def test_readuntil_buffer_separator_is_one_separator(loop, run, kind):
    reader = make(loop, b'some data\r\n')
    assert run(reader.readuntil(kind(b'\r\n'))) == b'some data\r\n'


def test_readexactly_zero_and_negative(loop, run):
    reader = make(loop, b'data')
    assert run(reader.readexactly(0)) == b''
    with pytest.raises(ValueError, match='less than zero'):
        run(reader.readexactly(-1))
    assert rest(run, reader) == b'data'


def test_readexactly_waits_across_feeds(loop, run):
    data = b'chunk1\nchunk2\nchunk3\n'
    reader = make(loop)

    async def go():
        task = asyncio.ensure_future(reader.readexactly(2 * len(data)))
        for _ in range(3):
            await asyncio.sleep(0)
            reader.feed_data(data)
        return await task
    assert run(go()) == data + data
    assert rest(run, reader) == data


def test_readexactly_more_than_limit(loop, run):
    reader = make(loop, b'chunk', limit=3)
    assert run(reader.readexactly(5)) == b'chunk'


def test_readexactly_eof(loop, run):
    reader = make(loop, b'chunk1\nchunk2\nchun', eof=True)
    with pytest.raises(asyncio.IncompleteReadError) as info:
        run(reader.readexactly(36))
    assert info.value.partial == b'chunk1\nchunk2\nchun'
    assert info.value.expected == 36
    assert str(info.value) == '18 bytes read on a total of 36 expected bytes'
    assert run(reader.read()) == b''


@pytest.mark.parametrize('call', [
    lambda r: r.read(2), lambda r: r.read(0), lambda r: r.readline(),
    lambda r: r.readexactly(2), lambda r: r.readuntil(b'\n')])
def test_stored_exception_raised_with_data_buffered(loop, run, call):
    reader = make(loop, b'line\n')
    exc = ValueError('stored')
    reader.set_exception(exc)
    assert reader.exception() is exc
    with pytest.raises(ValueError) as info:
        run(call(reader))
    assert info.value is exc


def test_exception_none_by_default(loop):
    assert make(loop).exception() is None


def test_set_exception_wakes_waiter(loop, run):
    reader = make(loop)

    async def go():
        task = asyncio.ensure_future(reader.readline())
        await asyncio.sleep(0)
        reader.set_exception(ValueError('woken'))
        with pytest.raises(ValueError, match='woken'):
            await task
    run(go())


def test_set_exception_after_cancelled_read(loop, run):
    reader = make(loop)

    async def go():
        task = asyncio.ensure_future(reader.readline())
        await asyncio.sleep(0)
        task.cancel()
        await asyncio.sleep(0)
        reader.set_exception(RuntimeError('message'))
        await asyncio.sleep(0)
        assert task.cancelled()
    run(go())


def test_second_concurrent_read_fails_only_when_it_must_wait(loop, run):
    reader = make(loop)

    async def go():
        first = asyncio.ensure_future(reader.readexactly(10))
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError, match='already waiting'):
            await reader.read(5)
        with pytest.raises(RuntimeError, match=r'readuntil\(\) called'):
            await reader.readline()
        reader.feed_data(b'abc')
        # data is there: a second reader proceeds without an error
        assert await reader.read(2) == b'ab'
        reader.feed_data(b'0123456789')
        return await first
    assert run(go()) == b'c012345678'
    assert rest(run, reader) == b'9'


def test_cancelled_read_loses_no_data(loop, run):
    reader = make(loop)

    async def go():
        task = asyncio.ensure_future(reader.readexactly(5))
        await asyncio.sleep(0)
        reader.feed_data(b'hello world')  # completes the read...
        task.cancel()                     # ...whose task is then cancelled
        with pytest.raises(asyncio.CancelledError):
            await task
        return await reader.read(100)
    assert run(go()) == b'hello world'


def test_wait_for_timeout_loses_no_data(loop, run):
    reader = make(loop, b'abc')

    async def go():
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(reader.readexactly(10), 0.05)
        reader.feed_data(b'defghijklm')
        return await reader.readexactly(10)
    assert run(go()) == b'abcdefghij'


def test_async_iteration(loop, run):
    reader = make(loop, b'line1\nline2\nlast', eof=True)

    async def go():
        return [line async for line in reader]
    assert run(go()) == [b'line1\n', b'line2\n', b'last']


def test_async_iteration_overlong_line(loop, run):
    reader = make(loop, b'ok\n' + b'x' * 20 + b'\n', limit=10, eof=True)

    async def go():
        lines = []
        with pytest.raises(ValueError):
            async for line in reader:
                lines.append(line)
        return lines
    assert run(go()) == [b'ok\n']


def test_repr(loop, run):
    assert repr(make(loop)) == '<StreamReader>'
    assert repr(make(loop, limit=123)) == '<StreamReader limit=123>'
    assert repr(make(loop, eof=True)) == '<StreamReader eof>'
    assert repr(make(loop, b'data')) == '<StreamReader 4 bytes>'
    reader = make(loop)
    reader.set_exception(RuntimeError())
    assert repr(reader) == '<StreamReader exception=RuntimeError()>'


def test_incomplete_read_error_pickles():
    exc = asyncio.IncompleteReadError(b'abc', 10)
    for proto in range(pickle.HIGHEST_PROTOCOL + 1):
        copy = pickle.loads(pickle.dumps(exc, protocol=proto))
        assert str(copy) == str(exc)
        assert (copy.partial, copy.expected) == (b'abc', 10)


def test_limit_overrun_error_pickles(loop, run):
    reader = make(loop, b'x' * 10, limit=3)
    with pytest.raises(asyncio.LimitOverrunError) as info:
        run(reader.readuntil(b'\n'))
    for proto in range(pickle.HIGHEST_PROTOCOL + 1):
        copy = pickle.loads(pickle.dumps(info.value, protocol=proto))
        assert str(copy) == str(info.value)
        assert copy.consumed == info.value.consumed


def test_constructor_uses_running_loop(loop, run):
    async def go():
        reader = uvstreams.StreamReader()
        reader.feed_data(b'x')
        reader.feed_eof()
        return await reader.read()
    assert run(go()) == b'x'


def test_bytes_like_inputs(loop, run):
    reader = make(loop, bytearray(b'ab'), memoryview(b'cd'), b'ef', eof=True)
    assert run(reader.read()) == b'abcdef'
    with pytest.raises(TypeError):
        make(loop).feed_data('text')
