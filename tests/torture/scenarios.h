/*
 * scenarios.h - the table of torture scenarios (scenarios.c), run by
 * runner.c. A scenario returns the number of contract violations it saw.
 */
#ifndef UVS_TORTURE_SCENARIOS_H
#define UVS_TORTURE_SCENARIOS_H

#include <uvstreams.h>

struct torture_scenario {
  const char *name;
  int (*run)(void);
};

extern const struct torture_scenario torture_scenarios[];
extern const char *torture_cert_file;

#endif
