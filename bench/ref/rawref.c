// rawref: the machine's limit for netprobify's benchmarks. A minimal C program that sends the same
// TCP SYN probes netprobify sends (raw IPPROTO_RAW socket, sendmmsg batches, packets precomputed) and,
// in "match" mode, receives the SYN-ACK/RST replies on a BPF-filtered raw TCP socket in a second thread
// (recvmmsg batches) and matches each to its probe by ack-1 = seq. No timestamps, no bookkeeping beyond a
// bitmap: anything netprobify does on top of this is its own cost. Prints one JSON line.
//
// Usage: rawref --family 4|6 --src ADDR --dst ADDR --targets N --dst-port P --sport-lo L --sport-hi H
//               --count C [--batch 64] [--mode send|match] [--timeout-ms 1000]
// Destinations are ADDR, ADDR+1, ... ADDR+N-1 (last 16 bits), probe i goes to target i % N.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PKT 60 /* room for an IPv6 (40) + TCP (20) header */
#define SEQ_BASE 0x10000000u

static int family = 4, targets = 1, batch = 64, match = 0, timeout_ms = 1000;
static unsigned count = 1000, dport = 80, sport_lo = 65000, sport_hi = 65000;
static struct in6_addr src6, dst6;
static struct in_addr src4, dst4;
static atomic_uint matched;
static atomic_int sending_done;
static uint8_t *seen;
static double t_last; /* time of the last match (receiver thread only until joined) */

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint32_t sum16(const uint8_t *p, size_t n, uint32_t s) {
  for (size_t i = 0; i + 1 < n; i += 2) s += (uint32_t)(p[i] << 8 | p[i + 1]);
  if (n & 1) s += (uint32_t)p[n - 1] << 8;
  return s;
}

static uint16_t fold(uint32_t s) {
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return (uint16_t)~s;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v & 0xff; }
static void put32(uint8_t *p, uint32_t v) { put16(p, v >> 16); put16(p + 2, v & 0xffff); }

/* Builds probe i into p; returns its length and fills the destination address. */
static size_t build(unsigned i, uint8_t *p, struct sockaddr_storage *to) {
  unsigned t = i % (unsigned)targets;
  uint16_t sport = (uint16_t)(sport_lo + i % (sport_hi - sport_lo + 1));
  memset(p, 0, PKT);
  uint8_t *tcp;
  uint32_t pseudo = 0;
  if (family == 4) {
    struct in_addr d = dst4;
    d.s_addr = htonl(ntohl(dst4.s_addr) + t);
    p[0] = 0x45; put16(p + 2, 40); put16(p + 4, (uint16_t)i); p[6] = 0x40; p[8] = 64; p[9] = IPPROTO_TCP;
    memcpy(p + 12, &src4, 4); memcpy(p + 16, &d, 4);
    put16(p + 10, fold(sum16(p, 20, 0)));
    tcp = p + 20;
    pseudo = sum16(p + 12, 8, 0) + IPPROTO_TCP + 20;
    struct sockaddr_in *s = (struct sockaddr_in *)to;
    memset(s, 0, sizeof *s); s->sin_family = AF_INET; s->sin_addr = d;
  } else {
    struct in6_addr d = dst6;
    uint16_t low = (uint16_t)((d.s6_addr[14] << 8 | d.s6_addr[15]) + t);
    d.s6_addr[14] = low >> 8; d.s6_addr[15] = low & 0xff;
    p[0] = 0x60; put16(p + 4, 20); p[6] = IPPROTO_TCP; p[7] = 64;
    memcpy(p + 8, &src6, 16); memcpy(p + 24, &d, 16);
    tcp = p + 40;
    pseudo = sum16(p + 8, 32, 0) + IPPROTO_TCP + 20;
    struct sockaddr_in6 *s = (struct sockaddr_in6 *)to;
    memset(s, 0, sizeof *s); s->sin6_family = AF_INET6; s->sin6_addr = d;
  }
  put16(tcp, sport); put16(tcp + 2, (uint16_t)dport); put32(tcp + 4, SEQ_BASE + i);
  tcp[12] = 5 << 4; tcp[13] = 0x02; put16(tcp + 14, 65535);
  put16(tcp + 16, fold(sum16(tcp, 20, pseudo)));
  return family == 4 ? 40 : 60;
}

static void *receiver(void *arg) {
  int fd = *(int *)arg;
  enum { B = 256, SLOT = 128 };
  static uint8_t bufs[B][SLOT];
  struct mmsghdr msgs[B];
  struct iovec iov[B];
  for (int i = 0; i < B; i++) {
    iov[i].iov_base = bufs[i]; iov[i].iov_len = SLOT;
    memset(&msgs[i], 0, sizeof msgs[i]);
    msgs[i].msg_hdr.msg_iov = &iov[i]; msgs[i].msg_hdr.msg_iovlen = 1;
  }
  double deadline = 0;
  for (;;) {
    if (atomic_load(&matched) >= count) break;
    if (atomic_load(&sending_done)) {
      if (deadline == 0) deadline = now() + timeout_ms / 1000.0;
      else if (now() > deadline) break;
    }
    struct timespec to = {0, 10 * 1000 * 1000};
    int n = recvmmsg(fd, msgs, B, MSG_WAITFORONE, &to);
    if (n <= 0) continue;
    for (int k = 0; k < n; k++) {
      const uint8_t *p = bufs[k];
      size_t len = msgs[k].msg_len, off = 0;
      if (family == 4) { if (len < 20) continue; off = (size_t)(p[0] & 0xf) * 4; }
      if (len < off + 20) continue;
      const uint8_t *tcp = p + off;
      uint8_t flags = tcp[13];
      if (!((flags & 0x12) == 0x12 || (flags & 0x04))) continue;
      uint32_t ack = (uint32_t)tcp[8] << 24 | tcp[9] << 16 | tcp[10] << 8 | tcp[11];
      uint32_t idx = ack - 1 - SEQ_BASE;
      if (idx < count && !seen[idx]) { seen[idx] = 1; atomic_fetch_add(&matched, 1); t_last = now(); }
    }
  }
  return NULL;
}

static int attach_port_filter(int fd) {
  /* Accept TCP whose destination port (our source port) is within [sport_lo, sport_hi]. */
  struct sock_filter v4[] = {
      BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),
      BPF_STMT(BPF_LD | BPF_H | BPF_IND, 2),
      BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, sport_lo, 0, 2),
      BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, sport_hi, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, 0xffff),
      BPF_STMT(BPF_RET | BPF_K, 0),
  };
  struct sock_filter v6[] = {
      BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 2),
      BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, sport_lo, 0, 2),
      BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, sport_hi, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, 0xffff),
      BPF_STMT(BPF_RET | BPF_K, 0),
  };
  struct sock_fprog prog = family == 4 ? (struct sock_fprog){6, v4} : (struct sock_fprog){5, v6};
  return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog);
}

int main(int argc, char **argv) {
  const char *src = NULL, *dst = NULL;
  for (int i = 1; i + 1 < argc; i += 2) {
    const char *k = argv[i], *v = argv[i + 1];
    if (!strcmp(k, "--family")) family = atoi(v);
    else if (!strcmp(k, "--src")) src = v;
    else if (!strcmp(k, "--dst")) dst = v;
    else if (!strcmp(k, "--targets")) targets = atoi(v);
    else if (!strcmp(k, "--dst-port")) dport = (unsigned)atoi(v);
    else if (!strcmp(k, "--sport-lo")) sport_lo = (unsigned)atoi(v);
    else if (!strcmp(k, "--sport-hi")) sport_hi = (unsigned)atoi(v);
    else if (!strcmp(k, "--count")) count = (unsigned)strtoul(v, NULL, 10);
    else if (!strcmp(k, "--batch")) batch = atoi(v);
    else if (!strcmp(k, "--mode")) match = !strcmp(v, "match");
    else if (!strcmp(k, "--timeout-ms")) timeout_ms = atoi(v);
    else { fprintf(stderr, "rawref: unknown option %s\n", k); return 64; }
  }
  int af = family == 4 ? AF_INET : AF_INET6;
  if (!src || !dst || targets < 1 || batch < 1 || batch > 1024 || sport_hi < sport_lo ||
      inet_pton(af, src, family == 4 ? (void *)&src4 : (void *)&src6) != 1 ||
      inet_pton(af, dst, family == 4 ? (void *)&dst4 : (void *)&dst6) != 1) {
    fprintf(stderr, "rawref: bad arguments (see the usage at the top of rawref.c)\n");
    return 64;
  }
  int tx = socket(af, SOCK_RAW, IPPROTO_RAW);
  if (tx < 0) { perror("rawref: socket(IPPROTO_RAW)"); return 77; }
  if (family == 6) { int on = 1; setsockopt(tx, IPPROTO_IPV6, IPV6_HDRINCL, &on, sizeof on); }
  int sndbuf = 4 << 20;
  setsockopt(tx, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf);

  uint8_t *pkts = malloc((size_t)count * PKT);
  struct sockaddr_storage *addrs = malloc((size_t)count * sizeof *addrs);
  size_t *lens = malloc((size_t)count * sizeof *lens);
  seen = calloc(count, 1);
  if (!pkts || !addrs || !lens || !seen) { fprintf(stderr, "rawref: out of memory\n"); return 70; }
  for (unsigned i = 0; i < count; i++) lens[i] = build(i, pkts + (size_t)i * PKT, &addrs[i]);

  pthread_t th;
  int rx = -1;
  if (match) {
    rx = socket(af, SOCK_RAW, IPPROTO_TCP);
    int rcvbuf = 64 << 20;
    if (rx < 0 || attach_port_filter(rx) < 0) { perror("rawref: rx socket"); return 70; }
    setsockopt(rx, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);
    pthread_create(&th, NULL, receiver, &rx);
  }

  struct mmsghdr *msgs = calloc((size_t)batch, sizeof *msgs);
  struct iovec *iov = calloc((size_t)batch, sizeof *iov);
  unsigned long failed = 0;
  double t0 = now();
  for (unsigned i = 0; i < count;) {
    unsigned n = count - i < (unsigned)batch ? count - i : (unsigned)batch;
    for (unsigned k = 0; k < n; k++) {
      iov[k].iov_base = pkts + (size_t)(i + k) * PKT; iov[k].iov_len = lens[i + k];
      msgs[k].msg_hdr.msg_iov = &iov[k]; msgs[k].msg_hdr.msg_iovlen = 1;
      msgs[k].msg_hdr.msg_name = &addrs[i + k];
      msgs[k].msg_hdr.msg_namelen = family == 4 ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    }
    int r = sendmmsg(tx, msgs, n, 0);
    if (r < 0) {
      if (errno == ENOBUFS || errno == EAGAIN) continue;
      failed++; i++; continue; /* skip the failing packet, as a prober would count it */
    }
    i += (unsigned)r;
  }
  double t1 = now();
  atomic_store(&sending_done, 1);
  if (match) pthread_join(th, NULL);
  double t2 = now();
  printf("{\"family\":%d,\"mode\":\"%s\",\"count\":%u,\"failed\":%lu,\"matched\":%u,\"send_seconds\":%.6f,"
         "\"send_pps\":%.0f,\"total_seconds\":%.6f,\"match_pps\":%.0f}\n",
         family, match ? "match" : "send", count, failed, atomic_load(&matched), t1 - t0, count / (t1 - t0),
         t2 - t0, match && t_last > t0 ? atomic_load(&matched) / (t_last - t0) : 0.0);
  return 0;
}
