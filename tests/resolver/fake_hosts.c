/*
 * fake_hosts.c - a test seam for name resolution: getaddrinfo() and
 * freeaddrinfo() that answer for the names listed in the UVST_FAKE_HOSTS
 * environment variable and hand every other name to the C library.
 *
 * The Happy Eyeballs tests need a name that resolves to ::1 first and to
 * 127.0.0.1 second, on any machine and without privileges. A private mount
 * namespace with a test /etc/hosts needs CAP_SYS_ADMIN, which a chroot or an
 * unprivileged container does not give, and Debian's /etc/hosts names
 * localhost as ::1 on some machines and not on others. With this seam the
 * engine still runs its own lookup: it calls getaddrinfo() on its lookup
 * threads, gets both families in that order and must try them as it would
 * for a real name. Only the name database is replaced.
 *
 *   UVST_FAKE_HOSTS="he.test ::1 127.0.0.1;other.test 127.0.0.2"
 *
 * Linked into a test program, these definitions come before the C
 * library's for every shared object the program loads (the executable is
 * first in the dynamic linker's lookup order). Built as a shared object,
 * they do the same for any program through LD_PRELOAD (the Python suite's
 * child processes, for uvstreams and for asyncio alike).
 *
 * Addresses are answered in the order given, filtered by the hints' family;
 * the service must be numeric or NULL. A list made here is one allocation,
 * remembered in a registry so that freeaddrinfo() can tell it from the C
 * library's lists, which it passes on.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RTLD_NEXT */
#endif
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define MAX_ADDRS 8

typedef struct fake_entry {
  struct addrinfo ai;
  struct sockaddr_storage addr;
} fake_entry;

typedef struct fake_list {
  fake_entry *entries;
  struct fake_list *next;
} fake_list;

static pthread_mutex_t registry_mutex = PTHREAD_MUTEX_INITIALIZER;
static fake_list *registry;

typedef int (*getaddrinfo_fn)(const char *, const char *,
                              const struct addrinfo *, struct addrinfo **);
typedef void (*freeaddrinfo_fn)(struct addrinfo *);

/* Copies the addresses listed for `name` in UVST_FAKE_HOSTS into out[] (at
 * most MAX_ADDRS, each NUL-terminated); returns how many, -1 if the name is
 * not listed. */
static int listed_addresses(const char *name, char out[][INET6_ADDRSTRLEN]) {
  const char *spec = getenv("UVST_FAKE_HOSTS");
  if (!spec || !name)
    return -1;
  size_t name_len = strlen(name);
  for (const char *line = spec; *line;) {
    size_t line_len = strcspn(line, ";");
    const char *end = line + line_len;
    const char *word = line + strspn(line, " ");
    size_t word_len = strcspn(word, " ;");
    if (word_len == name_len && strncmp(word, name, name_len) == 0) {
      int n = 0;
      for (const char *a = word + word_len; a < end && n < MAX_ADDRS;) {
        a += strspn(a, " ");
        size_t len = strcspn(a, " ;");
        if (len > 0 && len < INET6_ADDRSTRLEN) {
          memcpy(out[n], a, len);
          out[n++][len] = '\0';
        }
        a += len;
      }
      return n;
    }
    line = *end ? end + 1 : end;
  }
  return -1;
}

/* Fills entry e for the textual address `text` if its family passes the
 * hints; returns 1 if it did. */
static int fill_entry(fake_entry *e, const char *text, int port,
                      const struct addrinfo *hints) {
  int family = hints ? hints->ai_family : AF_UNSPEC;
  memset(e, 0, sizeof *e);
  struct sockaddr_in *sin = (struct sockaddr_in *)&e->addr;
  struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&e->addr;
  if ((family == AF_UNSPEC || family == AF_INET) &&
      inet_pton(AF_INET, text, &sin->sin_addr) == 1) {
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)port);
    e->ai.ai_addrlen = sizeof *sin;
  } else if ((family == AF_UNSPEC || family == AF_INET6) &&
             inet_pton(AF_INET6, text, &sin6->sin6_addr) == 1) {
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons((uint16_t)port);
    e->ai.ai_addrlen = sizeof *sin6;
  } else {
    return 0;
  }
  e->ai.ai_family = e->addr.ss_family;
  e->ai.ai_socktype =
      hints && hints->ai_socktype ? hints->ai_socktype : SOCK_STREAM;
  e->ai.ai_protocol = hints ? hints->ai_protocol : 0;
  e->ai.ai_addr = (struct sockaddr *)&e->addr;
  return 1;
}

static int service_port(const char *service) {
  if (!service)
    return 0;
  char *end = NULL;
  errno = 0;
  long port = strtol(service, &end, 10);
  if (errno || end == service || *end || port < 0 || port > 65535)
    return -1;
  return (int)port;
}

int getaddrinfo(const char *node, const char *service,
                const struct addrinfo *hints, struct addrinfo **res) {
  char addrs[MAX_ADDRS][INET6_ADDRSTRLEN];
  int n = listed_addresses(node, addrs);
  if (n < 0) {
    getaddrinfo_fn next = (getaddrinfo_fn)dlsym(RTLD_NEXT, "getaddrinfo");
    return next ? next(node, service, hints, res) : EAI_SYSTEM;
  }
  int port = service_port(service);
  if (port < 0)
    return EAI_SERVICE;
  fake_list *list = calloc(1, sizeof *list);
  fake_entry *entries = calloc(MAX_ADDRS, sizeof *entries);
  if (!list || !entries) {
    free(list);
    free(entries);
    return EAI_MEMORY;
  }
  int kept = 0;
  for (int i = 0; i < n; ++i) {
    if (!fill_entry(&entries[kept], addrs[i], port, hints))
      continue;
    if (kept > 0)
      entries[kept - 1].ai.ai_next = &entries[kept].ai;
    ++kept;
  }
  if (kept == 0) {
    free(list);
    free(entries);
    return EAI_NONAME;
  }
  list->entries = entries;
  pthread_mutex_lock(&registry_mutex);
  list->next = registry;
  registry = list;
  pthread_mutex_unlock(&registry_mutex);
  *res = &entries[0].ai;
  return 0;
}

/* Removes the list whose first entry is `ai` from the registry; returns it,
 * or NULL if the C library made `ai`. */
static fake_list *unregister(const struct addrinfo *ai) {
  pthread_mutex_lock(&registry_mutex);
  fake_list **p = &registry;
  while (*p && &(*p)->entries[0].ai != ai)
    p = &(*p)->next;
  fake_list *found = *p;
  if (found)
    *p = found->next;
  pthread_mutex_unlock(&registry_mutex);
  return found;
}

void freeaddrinfo(struct addrinfo *ai) {
  fake_list *list = ai ? unregister(ai) : NULL;
  if (list) {
    free(list->entries);
    free(list);
    return;
  }
  freeaddrinfo_fn next = (freeaddrinfo_fn)dlsym(RTLD_NEXT, "freeaddrinfo");
  if (next)
    next(ai);
}
