/*
 * echo.h - the echo server of the stress programs (echo.c).
 */
#ifndef UVS_STRESS_ECHO_H
#define UVS_STRESS_ECHO_H

#include "stress.h"

typedef struct st_echo st_echo;

/* Listens on 127.0.0.1 port 0 with server options o (may be NULL) and runs
 * the queue on a thread. tolerate: read/write/drain errors are counted, not
 * failures (peers that reset). */
st_echo *st_echo_start(uvs_engine *e, const uvs_options *o, int tolerate);
int st_echo_port(st_echo *x);
uvs_server *st_echo_server(st_echo *x);
void st_echo_counts(st_echo *x, int64_t *accepted, int64_t *live,
                    int64_t *finished, int64_t *bytes);
/* Closes the server, waits until every connection has finished (the peers
 * must close theirs), frees everything; returns the completions handled. */
int64_t st_echo_stop(st_echo *x, int64_t *errors);

#endif
