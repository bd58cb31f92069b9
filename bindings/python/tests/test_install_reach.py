"""What uvstreams.install() switches, and the checks the README gives a user
to tell (issue 23 item 4): uvstreams.installed() and
uvstreams.is_switched(obj) (or type(reader)).

install() switches asyncio's four opening functions, looked up at call
time. A program that builds its own StreamReader + StreamReaderProtocol
(websockets' legacy protocol, aiosmtpd), subprocess pipes, and a function
imported by name before install() stay on asyncio: the checks must say so.
"""

import asyncio
import sys
from asyncio import open_connection as open_connection_imported_early

import pytest

import uvstreams
from uvstreams import unified


@pytest.fixture
def installed():
    uvstreams.install()
    try:
        yield
    finally:
        uvstreams.uninstall()


def test_installed_reports_the_state():
    assert not uvstreams.installed()
    uvstreams.install()
    try:
        assert uvstreams.installed()
        original = asyncio.start_server
        asyncio.start_server = lambda *a, **k: None  # someone else's patch
        assert not uvstreams.installed()
        asyncio.start_server = original
        assert uvstreams.installed()
    finally:
        uvstreams.uninstall()
    assert not uvstreams.installed()


async def _serve(accepted):
    async def keep(reader, writer):
        accepted.set_result((reader, writer))
    server = await asyncio.start_server(keep, '127.0.0.1', 0)
    return server, server.sockets[0].getsockname()


def test_opening_functions_are_switched(loop, run, installed):
    async def main():
        accepted = loop.create_future()
        server, address = await _serve(accepted)
        reader, writer = await asyncio.open_connection(*address)
        served_reader, served_writer = await accepted
        for obj in (server, reader, writer, writer.transport, served_reader,
                    served_writer):
            assert uvstreams.is_switched(obj), obj
        assert type(reader) is uvstreams.StreamReader
        writer.close()
        served_writer.close()
        server.close()
        await server.wait_closed()

    run(main())


def test_own_stream_reader_protocol_stays_on_asyncio(loop, run, installed):
    """The websockets-legacy / aiosmtpd shape: loop.create_server() with a
    StreamReaderProtocol(StreamReader()) the program builds."""
    async def main():
        accepted = loop.create_future()

        def protocol():
            return asyncio.StreamReaderProtocol(
                asyncio.StreamReader(),
                lambda r, w: accepted.set_result((r, w)))

        server = await loop.create_server(protocol, '127.0.0.1', 0)
        address = server.sockets[0].getsockname()
        reader, writer = await asyncio.open_connection(*address)
        writer.write(b'hello\n')
        own_reader, own_writer = await accepted
        assert await own_reader.readline() == b'hello\n'
        assert type(own_reader) is asyncio.StreamReader
        assert not uvstreams.is_switched(own_reader)
        assert not uvstreams.is_switched(own_writer)
        assert not uvstreams.is_switched(server)
        assert uvstreams.is_switched(writer)  # the client side is switched
        # uvstreams' own reader fed from asyncio's transport: not switched
        assert not uvstreams.is_switched(uvstreams.StreamReader())
        writer.close()
        own_writer.close()
        server.close()
        await server.wait_closed()

    run(main())


def test_names_imported_before_install_stay_on_asyncio(loop, run, installed):
    async def main():
        accepted = loop.create_future()
        server, address = await _serve(accepted)
        assert uvstreams.is_switched(server)
        reader, writer = await open_connection_imported_early(*address)
        assert not uvstreams.is_switched(reader)
        assert not uvstreams.is_switched(writer)
        writer.close()
        (await accepted)[1].close()
        server.close()
        await server.wait_closed()

    run(main())


def test_subprocess_pipes_stay_on_asyncio(loop, run, installed):
    async def main():
        proc = await asyncio.create_subprocess_exec(
            sys.executable, '-c', 'print("child")',
            stdout=asyncio.subprocess.PIPE)
        assert await proc.stdout.readline() == b'child\n'
        assert not uvstreams.is_switched(proc.stdout)
        await proc.wait()

    run(main())


def test_the_38_api_is_switched(loop, run):
    async def handler(stream):
        assert uvstreams.is_switched(stream)
        stream.write(await stream.readline())
        await stream.drain()

    async def main():
        async with unified.StreamServer(handler, '127.0.0.1', 0) as server:
            await server.start_serving()
            assert uvstreams.is_switched(server)
            address = server.sockets[0].getsockname()
            async with unified.connect(*address) as stream:
                assert uvstreams.is_switched(stream)
                stream.write(b'x\n')
                assert await stream.readline() == b'x\n'

    run(main())
