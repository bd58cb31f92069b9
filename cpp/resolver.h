/*
 * resolver.h - address helpers shared by connectors and servers: numeric
 * parsing, resolution (active for connecting, on the lookup threads of
 * name_lookup.h; passive for listening), and formatting.
 */
#pragma once

#include <netdb.h>
#include <sys/socket.h>

#include <string>
#include <vector>

namespace uvs {

/* family: 0 any, 4 IPv4 only, 6 IPv6 only (an "options" value). */
int af_from_option(int family);
/* The extra-info code of an address family: 4, 6, 1 (Unix) or 0. */
int family_code(int af);
/* Parses a numeric IPv4/IPv6 address; false if host is a name. */
bool parse_numeric(const char *host, int port, int family,
                   struct sockaddr_storage *out);
/* The IPv4/IPv6 addresses of host for connecting, with port set; 0 or a
 * UVS_EAI_* code (records no error message: it runs on lookup threads).
 * Blocking (getaddrinfo). */
int resolve_active(const char *host, int port, const struct addrinfo &hints,
                   std::vector<struct sockaddr_storage> *out);
/* Addresses to listen on: every interface for NULL/"" (IPv4 and IPv6),
 * else the host's addresses, duplicates removed, in resolver order.
 * Blocking (getaddrinfo), so it runs on the caller's thread. */
int resolve_passive(const char *host, int port, int family,
                    std::vector<struct sockaddr_storage> *out);
std::string format_host(const struct sockaddr_storage &ss);
int port_of(const struct sockaddr_storage &ss);
void set_port(struct sockaddr_storage *ss, int port);
/* "host:port" or "[v6]:port". */
std::string format_endpoint(const struct sockaddr_storage &ss);

} // namespace uvs
