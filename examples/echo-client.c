/*
 * echo-client - the asyncio docs' TCP echo client, line for line:
 *
 *   reader, writer = await asyncio.open_connection(host, port)
 *   writer.write(message); await writer.drain()
 *   data = await reader.read(100)
 *   writer.close(); await writer.wait_closed()
 *
 * Usage: echo-client HOST PORT MESSAGE
 *
 * It uses the blocking calls on an engine with its own I/O thread, the
 * simplest way to use the library from a plain sequential program. Every
 * failure (e.g. connection refused) exits non-zero with the library's
 * message for it.
 */
#include <uvstreams.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TIMEOUT_MS 10000 /* for the connect and for the answer */

static int fail(const char *what, int err) {
  const char *detail = uvs_last_error();
  fprintf(stderr, "echo-client: %s: %s\n", what,
          detail[0] != '\0' ? detail : uvs_strerror(err));
  return 1;
}

static int parse_port(const char *s, int *out) {
  char *end;
  long v;
  errno = 0;
  v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v <= 0 || v > 65535)
    return -1;
  *out = (int)v;
  return 0;
}

/* Sends the message, waits until it is flushed, prints the answer. */
static int exchange(uvs_stream *s, const char *message) {
  void *data;
  size_t len;
  int rc;
  printf("Send: '%s'\n", message);
  rc = uvs_stream_write(s, message, strlen(message));
  if (rc < 0)
    return fail("write", rc);
  rc = uvs_stream_drain(s, TIMEOUT_MS);
  if (rc < 0)
    return fail("drain", rc);
  rc = uvs_stream_read(s, 100, TIMEOUT_MS, &data, &len);
  if (rc < 0)
    return fail("read", rc);
  printf("Received: '%.*s'\n", (int)len, (const char *)data);
  uvs_free(data);
  return 0;
}

static int close_stream(uvs_stream *s) {
  int rc;
  printf("Close the connection\n");
  rc = uvs_stream_close(s);
  if (rc < 0)
    return fail("close", rc);
  rc = uvs_stream_wait_closed(s, TIMEOUT_MS);
  if (rc < 0)
    return fail("wait_closed", rc);
  return 0;
}

static int run(uvs_engine *e, const char *host, int port, const char *msg) {
  uvs_stream *s;
  int status, rc = uvs_connect_tcp(e, host, port, NULL, TIMEOUT_MS, &s);
  if (rc < 0)
    return fail("connect", rc);
  status = exchange(s, msg);
  if (status == 0)
    status = close_stream(s);
  rc = uvs_stream_free(s);
  if (rc < 0 && status == 0)
    status = fail("uvs_stream_free", rc);
  return status;
}

int main(int argc, char **argv) {
  uvs_engine *e;
  int port, status, rc;
  if (argc != 4 || parse_port(argv[2], &port) < 0) {
    fprintf(stderr, "usage: echo-client HOST PORT MESSAGE\n");
    return 2;
  }
  rc = uvs_engine_new(NULL, &e);
  if (rc < 0)
    return fail("uvs_engine_new", rc);
  status = run(e, argv[1], port, argv[3]);
  rc = uvs_engine_free(e);
  if (rc < 0 && status == 0)
    status = fail("uvs_engine_free", rc);
  if (fflush(stdout) != 0)
    status = 1;
  return status;
}
