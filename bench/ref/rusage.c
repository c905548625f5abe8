// rusage: runs a command and writes what it cost, with microsecond resolution (GNU time prints CPU
// seconds with two decimals, too coarse for fping over a few hundred probes): wall seconds, user and
// system CPU seconds (getrusage of the waited child, so its own children are included when it waits
// for them), peak RSS in KiB. Used by bench/suite.ts for fping.
//
// Usage: rusage OUTFILE CMD [ARGS...]    exit status = the command's (128+signal if killed)
// OUTFILE gets one line: "wall_s user_s sys_s maxrss_kib".
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: rusage OUTFILE CMD [ARGS...]\n"); return 64; }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  pid_t pid = fork();
  if (pid < 0) { perror("rusage: fork"); return 71; }
  if (pid == 0) {
    execvp(argv[2], argv + 2);
    perror("rusage: exec");
    _exit(127);
  }
  int status = 0;
  struct rusage ru;
  if (wait4(pid, &status, 0, &ru) < 0) { perror("rusage: wait4"); return 71; }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  FILE *f = fopen(argv[1], "w");
  if (!f) { perror("rusage: output"); return 73; }
  fprintf(f, "%.6f %.6f %.6f %ld\n", (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9,
          ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6, ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6,
          ru.ru_maxrss);
  fclose(f);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
