/*
 * socketpair-read - the asyncio docs' "register an open socket to wait for
 * data using streams" example:
 *
 *   rsock, wsock = socket.socketpair()
 *   reader, writer = await asyncio.open_connection(sock=rsock)
 *   loop.call_soon(wsock.send, 'abc'.encode())
 *   data = await reader.read(100)
 *
 * One end of a socketpair is adopted as a stream (uvs_stream_open_fd; the
 * stream owns the descriptor from then on). The read is started first, on
 * an operation without a completion queue, so it is really waiting when the
 * program writes "abc" on the other, raw end with send(), simulating data
 * arriving from the network; uvs_op_wait then collects the result.
 */
#include <uvstreams.h>

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TIMEOUT_MS 5000

static int fail(const char *what, int err) {
  const char *detail = uvs_last_error();
  fprintf(stderr, "socketpair-read: %s: %s\n", what,
          detail[0] != '\0' ? detail : uvs_strerror(err));
  return 1;
}

/* Starts the read, sends "abc" from the raw end, waits for the read. */
static int read_abc(uvs_stream *s, int wsock, uvs_op *op) {
  const void *data;
  size_t len;
  int rc = uvs_stream_read_start(s, 100, op);
  if (rc < 0)
    return fail("uvs_stream_read_start", rc);
  if (send(wsock, "abc", 3, 0) != 3) {
    perror("socketpair-read: send");
    return 1;
  }
  if (rc == UVS_PENDING && (rc = uvs_op_wait(op, TIMEOUT_MS)) < 0)
    return fail("uvs_op_wait", rc);
  rc = uvs_op_result(op);
  if (rc < 0)
    return fail("read", rc);
  rc = uvs_op_data(op, &data, &len);
  if (rc < 0)
    return fail("uvs_op_data", rc);
  printf("Received: '%.*s'\n", (int)len, (const char *)data);
  return 0;
}

static int run(uvs_engine *e, int rsock, int wsock) {
  uvs_stream *s;
  uvs_op *op;
  int status, rc = uvs_stream_open_fd(e, rsock, NULL, &s);
  if (rc < 0)
    return fail("uvs_stream_open_fd", rc);
  rc = uvs_op_new(NULL, 0, &op);
  if (rc < 0) {
    status = fail("uvs_op_new", rc);
  } else {
    status = read_abc(s, wsock, op);
    if ((rc = uvs_op_free(op)) < 0 && status == 0)
      status = fail("uvs_op_free", rc);
  }
  rc = uvs_stream_close(s);
  if (rc == 0)
    rc = uvs_stream_wait_closed(s, TIMEOUT_MS);
  if (rc < 0 && status == 0)
    status = fail("close", rc);
  rc = uvs_stream_free(s);
  if (rc < 0 && status == 0)
    status = fail("uvs_stream_free", rc);
  return status;
}

int main(void) {
  uvs_engine *e;
  int sv[2], status, rc;
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
    perror("socketpair-read: socketpair");
    return 1;
  }
  rc = uvs_engine_new(NULL, &e);
  if (rc < 0) {
    close(sv[0]);
    close(sv[1]);
    return fail("uvs_engine_new", rc);
  }
  status = run(e, sv[0], sv[1]); /* sv[0] now belongs to the stream */
  if (close(sv[1]) < 0) {
    perror("socketpair-read: close");
    status = 1;
  }
  rc = uvs_engine_free(e);
  if (rc < 0 && status == 0)
    status = fail("uvs_engine_free", rc);
  if (fflush(stdout) != 0)
    status = 1;
  return status;
}
