"""Prints the HTTP response headers of a URL (asyncio's "get HTTP headers"
streams example, with uvstreams; plain http only, as uvstreams has no TLS
yet).

    PYTHONPATH=build/python python3 examples/python/http_headers.py http://example.com/
"""

import asyncio
import sys
import urllib.parse

import uvstreams


async def print_http_headers(url):
    url = urllib.parse.urlsplit(url)
    if url.scheme != 'http':
        raise SystemExit('only http:// URLs are supported')
    reader, writer = await uvstreams.open_connection(url.hostname,
                                                     url.port or 80)
    query = (f'HEAD {url.path or "/"} HTTP/1.0\r\n'
             f'Host: {url.hostname}\r\n'
             f'\r\n')
    writer.write(query.encode('latin-1'))
    while True:
        line = await reader.readline()
        if not line:
            break
        line = line.decode('latin1').rstrip()
        if line:
            print(f'HTTP header> {line}')
    writer.close()
    await writer.wait_closed()


if __name__ == '__main__':
    asyncio.run(print_http_headers(sys.argv[1]))
