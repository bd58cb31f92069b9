/*
 * resolver.cpp - see resolver.h.
 */
#include "resolver.h"

#include "common.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <cstring>
#include <memory>

namespace uvs {

int af_from_option(int family) {
  return family == 4 ? AF_INET : family == 6 ? AF_INET6 : AF_UNSPEC;
}

void set_port(struct sockaddr_storage *ss, int port) {
  if (ss->ss_family == AF_INET)
    reinterpret_cast<struct sockaddr_in *>(ss)->sin_port =
        htons(uint16_t(port));
  else if (ss->ss_family == AF_INET6)
    reinterpret_cast<struct sockaddr_in6 *>(ss)->sin6_port =
        htons(uint16_t(port));
}

int family_code(int af) {
  return af == AF_INET ? 4 : af == AF_INET6 ? 6 : af == AF_UNIX ? 1 : 0;
}

int port_of(const struct sockaddr_storage &ss) {
  if (ss.ss_family == AF_INET)
    return ntohs(reinterpret_cast<const struct sockaddr_in *>(&ss)->sin_port);
  if (ss.ss_family == AF_INET6)
    return ntohs(reinterpret_cast<const struct sockaddr_in6 *>(&ss)->sin6_port);
  return -1;
}

std::string format_host(const struct sockaddr_storage &ss) {
  char buf[INET6_ADDRSTRLEN] = "";
  if (ss.ss_family == AF_INET)
    inet_ntop(AF_INET,
              &reinterpret_cast<const struct sockaddr_in *>(&ss)->sin_addr, buf,
              sizeof buf);
  else if (ss.ss_family == AF_INET6)
    inet_ntop(AF_INET6,
              &reinterpret_cast<const struct sockaddr_in6 *>(&ss)->sin6_addr,
              buf, sizeof buf);
  return buf;
}

std::string format_endpoint(const struct sockaddr_storage &ss) {
  std::string host = format_host(ss);
  std::string port = std::to_string(port_of(ss));
  return ss.ss_family == AF_INET6 ? "[" + host + "]:" + port
                                  : host + ":" + port;
}

bool parse_numeric(const char *host, int port, int family,
                   struct sockaddr_storage *out) {
  memset(out, 0, sizeof *out);
  int af = af_from_option(family);
  if (af != AF_INET6) {
    auto *sin = reinterpret_cast<struct sockaddr_in *>(out);
    if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
      sin->sin_family = AF_INET;
      sin->sin_port = htons(uint16_t(port));
      return true;
    }
  }
  if (af != AF_INET) {
    auto *sin6 = reinterpret_cast<struct sockaddr_in6 *>(out);
    if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
      sin6->sin6_family = AF_INET6;
      sin6->sin6_port = htons(uint16_t(port));
      return true;
    }
  }
  return false;
}

namespace {
/* getaddrinfo's EAI_* result as a UVS_EAI_* code. */
int eai_code(int rc) {
  switch (rc) {
  case EAI_NONAME:
    return UVS_EAI_NONAME;
  case EAI_AGAIN:
    return UVS_EAI_AGAIN;
  case EAI_FAMILY:
  case EAI_ADDRFAMILY:
    return UVS_EAI_FAMILY;
  case EAI_SERVICE:
    return UVS_EAI_SERVICE;
  case EAI_NODATA:
    return UVS_EAI_NODATA;
  case EAI_MEMORY:
    return UVS_ENOMEM;
  default:
    return UVS_EAI_FAIL;
  }
}
/* getaddrinfo's list, freed also when a push_back throws bad_alloc. */
using AddrInfoList =
    std::unique_ptr<struct addrinfo, void (*)(struct addrinfo *)>;
} // namespace

int resolve_active(const char *host, int port, const struct addrinfo &hints,
                   std::vector<struct sockaddr_storage> *out) {
  struct addrinfo *res = nullptr;
  int rc = getaddrinfo(host, nullptr, &hints, &res);
  if (rc != 0)
    return eai_code(rc);
  AddrInfoList owned(res, freeaddrinfo);
  for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
      continue;
    struct sockaddr_storage ss = {};
    memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
    set_port(&ss, port);
    out->push_back(ss);
  }
  return 0;
}

int resolve_passive(const char *host, int port, int family,
                    std::vector<struct sockaddr_storage> *out) {
  struct addrinfo hints = {};
  hints.ai_family = af_from_option(family);
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_ADDRCONFIG;
  const char *node = host && *host ? host : nullptr;
  std::string service = std::to_string(port);
  struct addrinfo *res = nullptr;
  int rc = getaddrinfo(node, service.c_str(), &hints, &res);
  if (rc == EAI_ADDRFAMILY || (rc == EAI_NONAME && !node)) {
    hints.ai_flags &= ~AI_ADDRCONFIG;
    rc = getaddrinfo(node, service.c_str(), &hints, &res);
  }
  if (rc != 0)
    return fail(eai_code(rc), std::string("resolve ") + (node ? node : "*") +
                                  ": " + gai_strerror(rc));
  AddrInfoList owned(res, freeaddrinfo);
  for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
      continue;
    struct sockaddr_storage ss = {};
    memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
    bool dup = false;
    for (const auto &o : *out)
      dup = dup || memcmp(&o, &ss, sizeof ss) == 0;
    if (!dup)
      out->push_back(ss);
  }
  if (out->empty())
    return fail(UVS_EAI_NODATA, "no usable address");
  return 0;
}

} // namespace uvs
