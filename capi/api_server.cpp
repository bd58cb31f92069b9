/*
 * api_server.cpp - servers.
 */
#include "blocking.h"
#include "engine.h"
#include "server.h"

#include "stream.h"
#include <unistd.h>

using namespace uvs;

namespace {
template <class F>
int with_engine_options(uvs_engine *eh, const uvs_options *o, F &&f) {
  UVS_GET(e, Engine, Engine, eh, "engine");
  std::shared_ptr<Options> opts;
  if (o && !(opts = lookup<Options>(o, Kind::Options)))
    return bad_handle("options");
  return f(e, opts.get());
}

int register_server(const std::shared_ptr<Server> &s, uvs_server **out) {
  *out = to_handle<uvs_server>(Registry::instance().add(Kind::Server, s));
  return 0;
}
} // namespace

extern "C" {

UVS_API int uvs_server_listen_tcp(uvs_engine *eh, const char *host, int port,
                                  const uvs_options *o, uvs_server **out) {
  return guarded([&] {
    if (!out)
      return bad_argument("out is NULL");
    return with_engine_options(eh, o, [&](auto e, const Options *opts) {
      std::shared_ptr<Server> s;
      int rc = Server::listen_tcp(e, host, port, opts, &s);
      return rc < 0 ? rc : register_server(s, out);
    });
  });
}

UVS_API int uvs_server_listen_unix(uvs_engine *eh, const char *path,
                                   const uvs_options *o, uvs_server **out) {
  return guarded([&] {
    if (!out)
      return bad_argument("out is NULL");
    return with_engine_options(eh, o, [&](auto e, const Options *opts) {
      std::shared_ptr<Server> s;
      int rc = Server::listen_unix(e, path, opts, &s);
      return rc < 0 ? rc : register_server(s, out);
    });
  });
}

UVS_API int uvs_server_listen_fd(uvs_engine *eh, int fd, const uvs_options *o,
                                 uvs_server **out) {
  return guarded([&] {
    bool taken = false; /* the server owns fd from Server::listen_fd on */
    int rc = with_engine_options(eh, o, [&](auto e, const Options *opts) {
      if (!out)
        return bad_argument("out is NULL");
      if (fd < 0)
        return fail(UVS_EBADF, "negative file descriptor");
      taken = true;
      std::shared_ptr<Server> s;
      int status = Server::listen_fd(e, fd, opts, &s);
      return status < 0 ? status : register_server(s, out);
    });
    if (!taken && fd >= 0)
      ::close(fd);
    return rc;
  });
}

UVS_API int uvs_server_start_serving(uvs_server *h) {
  return guarded([&] {
    UVS_GET(s, Server, Server, h, "server");
    return s->start_serving();
  });
}

UVS_API int uvs_server_is_serving(uvs_server *h) {
  return guarded([&] {
    UVS_GET(s, Server, Server, h, "server");
    return s->is_serving();
  });
}

UVS_API int uvs_server_accept_start(uvs_server *h, uvs_op *oh) {
  return guarded([&] {
    return start_on(h, Kind::Server, "server", oh, &Server::start_accept);
  });
}

UVS_API int uvs_server_accept(uvs_server *h, int64_t timeout_ms,
                              uvs_stream **out) {
  return guarded([&] {
    if (!out)
      return bad_argument("out is NULL");
    std::shared_ptr<Op> op;
    int rc = wait_on(h, Kind::Server, "server", timeout_ms,
                     &Server::start_accept, &op);
    if (rc < 0)
      return rc;
    *out = register_stream(std::move(op->stream));
    return 0;
  });
}

UVS_API int uvs_server_num_addresses(uvs_server *h) {
  return guarded([&] {
    UVS_GET(s, Server, Server, h, "server");
    return s->num_addresses();
  });
}

UVS_API int uvs_server_address(uvs_server *h, int index, char **host,
                               int *port) {
  return guarded([&] {
    UVS_GET(s, Server, Server, h, "server");
    if (!host || !port)
      return bad_argument("host or port is NULL");
    std::string name;
    int rc = s->address(index, &name, port);
    return rc < 0 ? rc : copy_out_string(name, host);
  });
}

UVS_API int uvs_server_get_int(uvs_server *h, int index, const char *key,
                               int64_t *out) {
  return guarded([&] {
    UVS_GET(s, Server, Server, h, "server");
    if (!key || !out)
      return bad_argument("key or out is NULL");
    return s->get_int(index, key, out);
  });
}

UVS_API int uvs_server_num_clients(uvs_server *h) {
  return guarded([&] {
    UVS_GET(s, Server, Server, h, "server");
    return s->num_clients();
  });
}

UVS_API int uvs_server_close(uvs_server *h) {
  return guarded([&] {
    UVS_GET(s, Server, Server, h, "server");
    return s->close();
  });
}

UVS_API int uvs_server_close_clients(uvs_server *h) {
  return guarded([&] {
    UVS_GET(s, Server, Server, h, "server");
    return s->close_clients();
  });
}

UVS_API int uvs_server_abort_clients(uvs_server *h) {
  return guarded([&] {
    UVS_GET(s, Server, Server, h, "server");
    return s->abort_clients();
  });
}

UVS_API int uvs_server_wait_closed_start(uvs_server *h, uvs_op *oh) {
  return guarded([&] {
    return start_on(h, Kind::Server, "server", oh, &Server::start_wait_closed);
  });
}

UVS_API int uvs_server_wait_closed(uvs_server *h, int64_t timeout_ms) {
  return guarded([&] {
    return wait_on(h, Kind::Server, "server", timeout_ms,
                   &Server::start_wait_closed);
  });
}

UVS_API int uvs_server_free(uvs_server *h) {
  return guarded([&] {
    auto s = unregister<Server>(h, Kind::Server);
    if (!s)
      return bad_handle(h, Kind::Server, "server");
    return s->close();
  });
}

} /* extern "C" */
