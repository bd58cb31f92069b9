/*
 * connect.h - an outgoing connection in progress.
 *
 * A Connector runs on one loop: it resolves the host on the loop's lookup
 * threads (name_lookup.h; numeric addresses skip them), tries each address in
 * order and reports the last error when none answers, as asyncio's
 * create_connection does. With a happy_eyeballs_delay (RFC 8305, asyncio 3.8)
 * the attempts overlap: the next address is tried when the delay passes or the
 * previous attempt fails, the first connection wins and the others are closed;
 * "interleave" reorders the addresses by family first. A local address
 * ("local_host"/"local_port") is bound before connecting, and only addresses of
 * its family are tried. A Unix connector has a single attempt. Cancellation
 * (uvs_op_cancel, the op's timeout, engine shutdown) is forwarded to the loop,
 * which abandons the name lookup or closes the attempts' handles; the op then
 * completes exactly once with the cancellation status. The connector lives
 * until its last attempt and its timer have reported back to it.
 */
#pragma once

#include "common.h"
#include "engine.h"
#include "name_lookup.h"
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
  /* One connection attempt; stable in memory while libuv holds its req. */
  struct Attempt {
    Connector *owner = nullptr;
    std::shared_ptr<Stream> stream;
    uv_connect_t req;
  };

  Connector(std::shared_ptr<Engine> engine, Loop *loop, const Options *opts);
  int begin(const std::shared_ptr<Op> &op);
  void run_on_loop();
  int read_local_address();
  void addresses_ready();
  /* Starts the next address's attempt (and the delay timer); finishes when
   * every address failed. */
  void start_next_attempt();
  int start_attempt(const struct sockaddr_storage &ss);
  void connect_unix();
  void abort_on_loop(int status);
  void close_losers(Attempt *winner);
  void finish(int status);
  void release_when_idle();
  void stop_timer();
  void on_resolved(int status, std::vector<struct sockaddr_storage> addrs);
  static void on_connect(uv_connect_t *req, int status);
  static void on_delay(uv_timer_t *timer);
  static void on_timer_closed(uv_handle_t *handle);
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
  bool finished_ = false;
  bool has_local_ = false;
  struct sockaddr_storage local_ = {};
  int64_t delay_ms_ = -1; /* happy eyeballs delay; < 0: one at a time */
  std::vector<std::unique_ptr<Attempt>> attempts_; /* pending ones */
  std::shared_ptr<Stream> tls_stream_; /* the winner, during its handshake */
  bool timer_open_ = false;
  uv_timer_t delay_timer_;
  std::shared_ptr<NameLookups::Query> lookup_; /* while resolving host_ */
  std::shared_ptr<Connector> self_ref_;
};

} // namespace uvs
