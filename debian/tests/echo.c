/*
 * echo.c - an echo round trip through the installed library (debian/tests
 * c-echo): a server on 127.0.0.1 (port 0), a client that connects, writes a
 * line and reads it back from the server's side, which echoes what it
 * reads. Blocking calls on one thread, every wait bounded. Built only with
 * `pkg-config --cflags --libs uvstreams`; exits 0 and prints the line on
 * success, else names the call that failed.
 */
#include <stdio.h>
#include <string.h>
#include <uvstreams.h>

#define WAIT_MS 20000

static int failed(const char *what, int rc) {
  fprintf(stderr, "echo: %s: %s (%s)\n", what, uvs_strerror(rc),
          uvs_last_error());
  return 1;
}

static int echo_once(uvs_engine *e, uvs_server *srv, int port) {
  static const char line[] = "hello from the installed library\n";
  uvs_stream *client = NULL, *peer = NULL;
  void *got = NULL, *back = NULL;
  size_t len = 0, back_len = 0;
  int rc = uvs_connect_tcp(e, "127.0.0.1", port, NULL, WAIT_MS, &client);
  if (rc < 0)
    return failed("uvs_connect_tcp", rc);
  if ((rc = uvs_server_accept(srv, WAIT_MS, &peer)) < 0 ||
      (rc = uvs_stream_write(client, line, strlen(line))) < 0 ||
      (rc = uvs_stream_readline(peer, WAIT_MS, &got, &len)) < 0 ||
      (rc = uvs_stream_write(peer, got, len)) < 0 ||
      (rc = uvs_stream_readline(client, WAIT_MS, &back, &back_len)) < 0)
    return failed("echo round trip", rc);
  rc = back_len == strlen(line) && memcmp(back, line, back_len) == 0;
  if (rc)
    printf("echoed: %.*s", (int)back_len, (const char *)back);
  else
    fprintf(stderr, "echo: got back %zu bytes, not the line sent\n", back_len);
  uvs_free(got);
  uvs_free(back);
  uvs_stream_free(peer);
  uvs_stream_free(client);
  return rc ? 0 : 1;
}

int main(void) {
  uvs_engine *e = NULL;
  uvs_server *srv = NULL;
  char *host = NULL;
  int port = 0, rc;
  printf("libuvstreams %s (header %d.%d.%d)\n", uvs_version_string(),
         UVS_VERSION_MAJOR, UVS_VERSION_MINOR, UVS_VERSION_PATCH);
  if ((rc = uvs_engine_new(NULL, &e)) < 0)
    return failed("uvs_engine_new", rc);
  if ((rc = uvs_server_listen_tcp(e, "127.0.0.1", 0, NULL, &srv)) < 0)
    return failed("uvs_server_listen_tcp", rc);
  if ((rc = uvs_server_address(srv, 0, &host, &port)) < 0)
    return failed("uvs_server_address", rc);
  uvs_free(host);
  rc = echo_once(e, srv, port);
  uvs_server_free(srv);
  uvs_engine_free(e);
  return rc;
}
