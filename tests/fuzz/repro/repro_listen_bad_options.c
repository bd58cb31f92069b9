/*
 * repro_listen_bad_options.c - listen accepts stream options that can never
 * make a stream, and its connections then hang.
 *
 * cpp/server.cpp: listen_tcp/listen_unix do not validate the stream options
 * they keep for accepted connections ("limit" <= 0, "write_low" >
 * "write_high"), so uvs_server_listen_* returns 0. In accept_one,
 * Stream::create then fails for every connection and the fallback calls
 * accept4() on the listening socket - but libuv has already accepted the
 * connection (stream->accepted_fd) and stops watching the listener until
 * uv_accept is called. The client is never closed (no EOF) and the server
 * never accepts again.
 * Fix: validate the options in listen (UVS_EINVAL); in accept_one's
 * failure path, take the connection with uv_accept into a temporary handle
 * and close it.
 */
#include <uvstreams.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

int main(void) {
  uvs_engine *e;
  uvs_engine_new(NULL, &e);
  uvs_options *o;
  uvs_options_new(&o);
  uvs_options_set_int(o, "limit", 0);
  uvs_server *srv = NULL;
  int rc = uvs_server_listen_tcp(e, "127.0.0.1", 0, o, &srv);
  printf("uvs_server_listen_tcp with limit 0 -> %s\n", uvs_err_name(rc));
  int bad = rc == 0;
  if (rc == 0) {
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
    struct pollfd pf = {fd, POLLIN, 0};
    int pr = poll(&pf, 1, 2000);
    printf("DEFECT: listen accepted the options; a client %s\n",
           pr == 0 ? "gets neither data nor EOF within 2 s"
                   : "was closed (the options should have been refused)");
    close(fd);
    uvs_server_free(srv);
  } else {
    printf("ok\n");
  }
  uvs_options_free(o);
  uvs_engine_free(e);
  return bad;
}
