/*
 * repro_reset_as_eof.c - a peer reset that arrives together with data is
 * reported as a clean EOF.
 *
 * When the data and the RST are both pending when the loop polls (always
 * possible; certain on an io_threads 0 engine that was not driven in
 * between), libuv reads the data, sees POLLHUP with a partial read and
 * reports UV_EOF without reading the socket error (src/unix/stream.c,
 * uv__stream_io). cpp/stream.cpp, on_read, takes it as the peer's EOF: the
 * pending readexactly fails with UVS_EINCOMPLETE instead of UVS_ECONNRESET,
 * uvs_stream_error is 0, the stream stays open (half-closed), a write
 * "succeeds" and wait_closed never completes. asyncio (recv until the error)
 * raises ConnectionResetError.
 * Fix: on UV_EOF, read SO_ERROR (getsockopt) and treat a pending error as
 * the connection's loss.
 */
#include <uvstreams.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

int main(void) {
  uvs_options *o;
  uvs_options_new(&o);
  uvs_options_set_int(o, "io_threads", 0);
  uvs_engine *e;
  uvs_engine_new(o, &e);
  uvs_server *srv;
  uvs_server_listen_tcp(e, "127.0.0.1", 0, NULL, &srv);
  char *host;
  int port;
  uvs_server_address(srv, 0, &host, &port);
  uvs_free(host);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sin = {0};
  sin.sin_family = AF_INET;
  sin.sin_port = htons((uint16_t)port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  connect(fd, (struct sockaddr *)&sin, sizeof sin);
  uvs_stream *s = NULL;
  uvs_server_accept(srv, 1000, &s);
  if (write(fd, "0123456789", 10) != 10)
    return 2;
  struct linger lg = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  close(fd); /* RST, right behind the data */
  usleep(50000);
  void *d = NULL;
  size_t len = 0;
  int rc = uvs_stream_readexactly(s, 100, 1000, &d, &len);
  uvs_free(d);
  int err = uvs_stream_error(s);
  int wrc = uvs_stream_write(s, "x", 1);
  int wc = uvs_stream_wait_closed(s, 300);
  printf("readexactly(100) -> %s with %zu bytes; uvs_stream_error %s; write "
         "%s; wait_closed(300 ms) %s\n",
         uvs_err_name(rc), len, uvs_err_name(err), uvs_err_name(wrc),
         uvs_err_name(wc));
  int bad = rc != UVS_ECONNRESET;
  printf(bad ? "DEFECT: the reset was reported as EOF\n" : "ok\n");
  uvs_stream_free(s);
  uvs_server_free(srv);
  uvs_engine_free(e);
  uvs_options_free(o);
  return bad;
}
