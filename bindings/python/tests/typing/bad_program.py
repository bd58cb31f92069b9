"""A user program with type errors that `mypy --strict` must report, each
on a line marked "# error" and on no other line (test_packaging.py)."""

import uvstreams
from uvstreams import sync


def blocking() -> None:
    with sync.connect('127.0.0.1', '8888') as stream:  # error
        text: str = stream.readline()  # error
        stream.write('not bytes')  # error
        stream.drain(timeout='soon')  # error


async def streams() -> None:
    reader, writer = await uvstreams.open_connection('127.0.0.1', 8888,
                                                     limit='big')  # error
    count: int = await reader.read()  # error
    writer.write(reader)  # error
    await writer.frobnicate()  # error


def untyped_handler(stream):  # error
    pass
