/*
 * connect.h - an outgoing connection in progress.
 *
 * A Connector runs on one loop: it resolves the host with libuv's resolver
 * (numeric addresses skip it), tries each address in order and reports the
 * last error when none answers, as asyncio's create_connection does. A Unix
 * connector has a single attempt. Cancellation (uvs_op_cancel, the op's
 * timeout, engine shutdown) is forwarded to the loop, which cancels the
 * resolver request or closes the attempt's handle; the op then completes
 * exactly once with the cancellation status.
 */
#pragma once

#include "common.h"
#include "engine.h"
#include "op.h"
#include "options.h"

#include <uv.h>

#include <sys/socket.h>

#include <vector>

namespace uvs {

class Connector : public OpTarget,
                  public Closeable,
                  public std::enable_shared_from_this<Connector> {
public:
  static int start_tcp(std::shared_ptr<Engine> engine, const char *host,
                       int port, const Options *opts,
                       const std::shared_ptr<Op> &op);
  static int start_unix(std::shared_ptr<Engine> engine, const char *path,
                        const Options *opts, const std::shared_ptr<Op> &op);

  void cancel_op(const std::shared_ptr<Op> &op, int status) override;
  void shutdown_now(int err) override;

private:
  Connector(std::shared_ptr<Engine> engine, Loop *loop, const Options *opts);
  int begin(const std::shared_ptr<Op> &op);
  void run_on_loop();
  void try_next_address();
  void connect_unix();
  void abort_on_loop(int status);
  void finish(int status);
  static void on_resolved(uv_getaddrinfo_t *req, int status,
                          struct addrinfo *res);
  static void on_connect(uv_connect_t *req, int status);
  /* The TCP/Unix connection is up: hand it over, after TLS if asked. */
  void connected(std::shared_ptr<Stream> s);
  void on_tls_done(int status, const std::string &detail);

  const std::shared_ptr<Engine> engine_;
  Loop *const loop_;
  Options opts_;
  std::shared_ptr<Op> op_;
  std::string host_;
  int port_ = 0;
  bool unix_ = false;
  std::vector<struct sockaddr_storage> addrs_;
  size_t next_ = 0;
  int last_error_ = UVS_ECONNREFUSED;
  int cancel_status_ = 0;
  bool resolving_ = false;
  bool finished_ = false;
  std::shared_ptr<Stream> attempt_;
  uv_getaddrinfo_t resolve_req_;
  uv_connect_t connect_req_;
  std::shared_ptr<Connector> self_ref_;
};

} // namespace uvs
