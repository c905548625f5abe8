/* responder: holds TCP listening sockets in a lab target namespace so its kernel answers SYNs.
 *
 * The SYN-ACK netprobify measures comes from the target's kernel as soon as a socket listens; this
 * program only has to exist, listen on the wildcard address (dual-stack, so every address routed to
 * the namespace's loopback answers too) and accept-and-close completed connections so the accept
 * queue never fills. A few lines of C start in ~1 ms and use ~1 MB, unlike a Node process per target.
 *
 *   responder PORT [PORT...]     prints "ready" once listening; exits when stdin closes
 */
#define _GNU_SOURCE
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_PORTS 64

int main(int argc, char **argv) {
  struct pollfd pf[MAX_PORTS + 1];
  int n = 0;
  if (argc < 2 || argc - 1 > MAX_PORTS) {
    fprintf(stderr, "usage: responder PORT [PORT...] (at most %d)\n", MAX_PORTS);
    return 64;
  }
  for (int i = 1; i < argc; i++) {
    long port = strtol(argv[i], NULL, 10);
    if (port <= 0 || port > 65535) {
      fprintf(stderr, "responder: bad port %s\n", argv[i]);
      return 64;
    }
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int zero = 0, one = 1;
    if (fd < 0) {
      perror("responder: socket");
      return 2;
    }
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in6 sa;
    memset(&sa, 0, sizeof sa);
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons((unsigned short)port);
    sa.sin6_addr = in6addr_any;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 65535) < 0) {
      perror("responder: bind/listen");
      return 2;
    }
    pf[n].fd = fd;
    pf[n].events = POLLIN;
    n++;
  }
  pf[n].fd = 0;
  pf[n].events = POLLIN;
  puts("ready");
  fflush(stdout);
  for (;;) {
    if (poll(pf, (nfds_t)n + 1, -1) < 0) continue;
    if (pf[n].revents) {
      char b[256];
      if (read(0, b, sizeof b) <= 0) return 0;
    }
    for (int i = 0; i < n; i++) {
      if (!(pf[i].revents & POLLIN)) continue;
      for (;;) {
        int c = accept4(pf[i].fd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) break;
        close(c);
      }
    }
  }
}
