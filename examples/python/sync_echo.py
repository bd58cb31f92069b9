"""The blocking API: a threaded echo server and a client in one script.

    PYTHONPATH=build/python python3 examples/python/sync_echo.py
"""

import threading

from uvstreams import sync


def echo(stream):
    for line in stream:
        stream.write(line)
        stream.drain()


def main():
    with sync.start_server(echo, '127.0.0.1', 0) as server:
        host, port = server.sockets[0]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        with sync.connect(host, port, timeout=5) as stream:
            for word in ('hello', 'blocking', 'world'):
                stream.write(word.encode() + b'\n')
                print('echo:', stream.readline(timeout=5).decode().rstrip())
        server.close()
        server.close_clients()


if __name__ == '__main__':
    main()
