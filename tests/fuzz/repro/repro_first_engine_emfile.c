/*
 * repro_first_engine_emfile.c - the first uvs_engine_new of a process
 * aborts when fewer than 3 descriptors are free. (Issue 20, defect 7.)
 *
 * libuv makes a process-wide pipe at its first loop initialisation and
 * calls abort() if it cannot (uv__signal_global_init). The engine must
 * answer UVS_EMFILE instead, and a later uvs_engine_new, with descriptors
 * free again, must work. Each case runs in a fresh child of this process,
 * which has made no engine, so that it is the child's first.
 */
#include <uvstreams.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static int highest_fd(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d)
    return 1024;
  int top = dirfd(d);
  for (struct dirent *de; (de = readdir(d)) != NULL;)
    if (de->d_name[0] != '.' && atoi(de->d_name) > top)
      top = atoi(de->d_name);
  closedir(d);
  return top;
}

/* In the child: leaves `left` descriptors free, makes the first engine,
 * then frees the table and makes another. 0, or what went wrong. */
static int first_engine_with(int left) {
  int base = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (base < 0)
    return 13;
  struct rlimit saved, low;
  getrlimit(RLIMIT_NOFILE, &saved);
  low = saved;
  low.rlim_cur = (rlim_t)highest_fd() + 1 + (rlim_t)left;
  if (setrlimit(RLIMIT_NOFILE, &low) < 0)
    return 10;
  int fds[1024], n = 0;
  while (n < 1024 && (fds[n] = dup(base)) >= 0)
    n++;
  if (n == 1024) /* not full: fd holes beyond what we fill */
    return 14;
  for (int i = 0; i < left && n > 0; i++)
    close(fds[--n]);
  uvs_engine *e = NULL;
  int rc = uvs_engine_new(NULL, &e);
  if (rc == 0) /* enough after all (left = 3 or more): fine */
    uvs_engine_free(e);
  else if (rc != UVS_EMFILE)
    return 11;
  while (n > 0)
    close(fds[--n]);
  close(base);
  setrlimit(RLIMIT_NOFILE, &saved);
  if (uvs_engine_new(NULL, &e) < 0)
    return 12;
  uvs_engine_free(e);
  return 0;
}

int main(void) {
  int bad = 0;
  for (int left = 0; left <= 3; left++) {
    fflush(stdout);
    pid_t child = fork();
    if (child < 0)
      return 2;
    if (child == 0)
      _exit(first_engine_with(left));
    int status = 0;
    waitpid(child, &status, 0);
    if (WIFSIGNALED(status)) {
      printf("DEFECT: with %d descriptors free, the first uvs_engine_new "
             "died of signal %d\n",
             left, WTERMSIG(status));
      bad = 1;
    } else if (WEXITSTATUS(status) != 0) {
      printf("DEFECT: with %d descriptors free: step %d failed (11: not "
             "UVS_EMFILE, 12: no engine once descriptors were free, "
             "10/13/14: could not fill the table)\n",
             left, WEXITSTATUS(status));
      bad = 1;
    }
  }
  if (!bad)
    printf("ok: a first engine without descriptors is UVS_EMFILE\n");
  return bad;
}
