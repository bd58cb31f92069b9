/*
 * http-head - the asyncio docs' "get HTTP headers" example:
 *
 *   http-head [--cafile FILE] http[s]://HOST[:PORT][/PATH]
 *
 * Connects, sends "HEAD /PATH HTTP/1.0" with a Host header, then reads the
 * answer with readline until the empty line that ends the headers, printing
 * each one as "HTTP header> LINE". readline is asyncio's: a line is returned
 * with its "\n", a partial line at EOF, and a line longer than the stream's
 * limit (64 KiB) is an error rather than unbounded buffering.
 *
 * https:// (default port 443) connects with TLS, as asyncio's
 * open_connection(host, port, ssl=True): the server's certificate must be
 * valid for HOST and chain to the system trust store (OpenSSL's default
 * paths, which also honour SSL_CERT_FILE / SSL_CERT_DIR). --cafile FILE adds
 * the CA certificates of a PEM file to the trusted ones, e.g. a local test
 * CA. A certificate that does not verify ends the program with status 1 and
 * OpenSSL's reason ("certificate verify failed: ...").
 */
#include <uvstreams.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TIMEOUT_MS 10000
#define HOST_MAX 256

struct url {
  char host[HOST_MAX]; /* without brackets for an IPv6 literal */
  int port;
  int tls;          /* https */
  int default_port; /* 80 or 443: no ":PORT" in the Host header */
  const char *path; /* points into the argument; "/" if empty */
  size_t path_len;  /* up to a "#fragment", which is not sent */
};

static int fail(const char *what, int err) {
  const char *detail = uvs_last_error();
  fprintf(stderr, "http-head: %s: %s\n", what,
          detail[0] != '\0' ? detail : uvs_strerror(err));
  return 1;
}

static int parse_port(const char *s, size_t n, int *out) {
  long v = 0;
  size_t i;
  if (n == 0 || n > 5)
    return -1;
  for (i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    v = v * 10 + (s[i] - '0');
  }
  if (v <= 0 || v > 65535)
    return -1;
  *out = (int)v;
  return 0;
}

/* Splits "host[:port]" (host may be "[v6]") into u->host and u->port. */
static int parse_authority(const char *s, size_t n, struct url *u) {
  const char *host = s, *colon;
  size_t hlen;
  if (n > 0 && s[0] == '[') {
    const char *close = memchr(s, ']', n);
    if (close == NULL)
      return -1;
    host = s + 1;
    hlen = (size_t)(close - host);
    colon = close + 1 < s + n ? close + 1 : NULL;
    if (colon != NULL && *colon != ':')
      return -1;
  } else {
    colon = memchr(s, ':', n);
    hlen = colon != NULL ? (size_t)(colon - s) : n;
  }
  if (hlen == 0 || hlen >= sizeof u->host)
    return -1;
  memcpy(u->host, host, hlen);
  u->host[hlen] = '\0';
  u->port = u->default_port;
  if (colon != NULL)
    return parse_port(colon + 1, (size_t)(s + n - colon - 1), &u->port);
  return 0;
}

/* http[s]://host[:port][/path]. Returns 0, or -1 if malformed. */
static int parse_url(const char *arg, struct url *u) {
  const char *rest, *slash;
  if (strncasecmp(arg, "https://", 8) == 0) {
    u->tls = 1;
    u->default_port = 443;
    rest = arg + 8;
  } else if (strncasecmp(arg, "http://", 7) == 0) {
    u->tls = 0;
    u->default_port = 80;
    rest = arg + 7;
  } else {
    return -1;
  }
  slash = strchr(rest, '/');
  u->path = slash != NULL ? slash : "/";
  u->path_len = strcspn(u->path, "#");
  return parse_authority(
      rest, slash != NULL ? (size_t)(slash - rest) : strlen(rest), u);
}

static int send_request(uvs_stream *s, const struct url *u) {
  uvs_buf parts[5];
  char host[HOST_MAX + 16]; /* [v6]:port */
  int rc;
  int v6 = strchr(u->host, ':') != NULL;
  if (u->port != u->default_port)
    snprintf(host, sizeof host, v6 ? "[%s]:%d" : "%s:%d", u->host, u->port);
  else
    snprintf(host, sizeof host, v6 ? "[%s]" : "%s", u->host);
  parts[0].base = "HEAD ";
  parts[1].base = u->path;
  parts[2].base = " HTTP/1.0\r\nHost: ";
  parts[3].base = host;
  parts[4].base = "\r\n\r\n";
  for (rc = 0; rc < 5; rc++)
    parts[rc].len = strlen(parts[rc].base);
  parts[1].len = u->path_len;
  rc = uvs_stream_writev(s, parts, 5);
  if (rc < 0)
    return fail("write", rc);
  rc = uvs_stream_drain(s, TIMEOUT_MS);
  if (rc < 0)
    return fail("drain", rc);
  return 0;
}

/* Prints header lines until the empty line (or EOF). */
static int print_headers(uvs_stream *s) {
  void *data;
  size_t len;
  int rc;
  for (;;) {
    rc = uvs_stream_readline(s, TIMEOUT_MS, &data, &len);
    if (rc < 0)
      return fail("readline", rc);
    if (len == 0) { /* EOF */
      uvs_free(data);
      return 0;
    }
    while (len > 0 &&
           (((char *)data)[len - 1] == '\n' || ((char *)data)[len - 1] == '\r'))
      len--;
    if (len > 0)
      printf("HTTP header> %.*s\n", (int)len, (const char *)data);
    uvs_free(data);
    if (len == 0) /* the empty line: end of the headers */
      return 0;
  }
}

/* Options for an https connection: a client TLS configuration (system
 * trust store, plus cafile if given). server_hostname is left to its
 * default, the host connected to. Returns 0, or 1 after printing why. */
static int tls_options(const char *cafile, uvs_options **out) {
  uvs_tls_config *tls = NULL;
  int rc = uvs_tls_config_new(UVS_TLS_CLIENT, &tls);
  if (rc < 0)
    return fail("TLS configuration", rc);
  if (cafile != NULL && (rc = uvs_tls_config_load_ca_file(tls, cafile)) < 0)
    rc = fail("--cafile", rc);
  else if ((rc = uvs_options_new(out)) < 0 ||
           (rc = uvs_options_set_tls(*out, tls)) < 0)
    rc = fail("options", rc);
  uvs_tls_config_free(tls); /* the options hold their own reference */
  return rc;
}

static int head(uvs_engine *e, const struct url *u, const char *cafile) {
  uvs_stream *s;
  uvs_options *opts = NULL;
  int status, rc;
  if (u->tls && tls_options(cafile, &opts) != 0) {
    if (opts != NULL)
      uvs_options_free(opts);
    return 1;
  }
  rc = uvs_connect_tcp(e, u->host, u->port, opts, TIMEOUT_MS, &s);
  if (opts != NULL)
    uvs_options_free(opts);
  if (rc < 0)
    return fail("connect", rc);
  status = send_request(s, u);
  if (status == 0)
    status = print_headers(s);
  /* Ignore the body, close the connection. */
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

static int usage(void) {
  fprintf(stderr,
          "usage: http-head [--cafile FILE] http[s]://HOST[:PORT][/PATH]\n"
          "  https verifies the server against the system trust store\n"
          "  (or SSL_CERT_FILE / SSL_CERT_DIR); --cafile FILE also trusts\n"
          "  the CA certificates in FILE (PEM)\n");
  return 2;
}

int main(int argc, char **argv) {
  struct url u;
  uvs_engine *e;
  const char *cafile = NULL;
  int status, rc;
  if (argc == 4 && strcmp(argv[1], "--cafile") == 0) {
    cafile = argv[2];
    argv += 2;
    argc -= 2;
  }
  if (argc != 2 || parse_url(argv[1], &u) < 0)
    return usage();
  if (cafile != NULL && !u.tls) {
    fprintf(stderr, "http-head: --cafile needs an https:// URL\n");
    return 2;
  }
  rc = uvs_engine_new(NULL, &e);
  if (rc < 0)
    return fail("uvs_engine_new", rc);
  status = head(e, &u, cafile);
  rc = uvs_engine_free(e);
  if (rc < 0 && status == 0)
    status = fail("uvs_engine_free", rc);
  if (fflush(stdout) != 0)
    status = 1;
  return status;
}
