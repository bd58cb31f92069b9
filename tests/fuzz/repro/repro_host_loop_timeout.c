/*
 * repro_host_loop_timeout.c - io_threads 0: blocking calls ignore timeouts.
 *
 * cpp/loop.cpp, Loop::drive_for: uv_timer_start(&drive_timer_, ..., ms) is
 * computed from the loop's cached time (uv_now), which is stale when the
 * host-driven loop has not run for a while. The timer is then already due:
 * uv_run(UV_RUN_ONCE) runs it first, finds no timer left and blocks in
 * epoll_wait(-1) until some I/O happens. Every blocking call with a timeout
 * on a host-driven engine (uvs_server_accept, uvs_cq_wait/next, uvs_op_wait,
 * blocking reads, connect, drain, wait_closed) can block forever.
 * Fix: uv_update_time(&loop_) before uv_timer_start in drive_for.
 */
#include <uvstreams.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void on_alarm(int sig) {
  (void)sig;
  static const char m[] = "DEFECT: uvs_server_accept(srv, 10 ms) on an "
                          "io_threads 0 engine still blocked after 3 s\n";
  if (write(1, m, sizeof m - 1) < 0)
    _exit(1);
  _exit(1);
}

int main(void) {
  uvs_options *o;
  uvs_options_new(&o);
  uvs_options_set_int(o, "io_threads", 0);
  uvs_engine *e;
  uvs_engine_new(o, &e);
  uvs_server *srv;
  uvs_server_listen_tcp(e, "127.0.0.1", 0, NULL, &srv);
  uvs_engine_run(e); /* the host runs the loop once (nothing left to do) */
  usleep(20000);     /* then it idles: the loop's cached time goes stale */
  signal(SIGALRM, on_alarm);
  alarm(3);
  uvs_stream *s = NULL;
  int rc = uvs_server_accept(srv, 10, &s);
  alarm(0);
  printf("ok: accept returned %s\n", uvs_err_name(rc));
  uvs_server_free(srv);
  uvs_engine_free(e);
  uvs_options_free(o);
  return 0;
}
