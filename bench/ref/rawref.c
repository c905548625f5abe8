// rawref: the machine's limit for netprobify's benchmarks. A minimal C program that sends the same
// probes netprobify sends — TCP SYN, ICMP echo or UDP, IPv4 or IPv6 — through a raw socket
// (IPPROTO_RAW, headers built here, packets precomputed, sendmmsg batches) and, in "match" mode,
// receives the replies in a second thread (recvmmsg batches) and matches each to its probe by the key
// it carries: ack-1 of the SYN-ACK/RST, id<<16|seq of the echo reply, or the 4-byte tag after the UDP
// header quoted by the ICMP port unreachable. No timestamps, no bookkeeping beyond a bitmap: anything
// netprobify does on top of this is its own cost. Prints one JSON line.
//
// Usage: rawref --family 4|6 [--type tcp|icmp|udp] --src ADDR (--dst ADDR --targets N | --dst-file F)
//               --dst-port P --sport-lo L --sport-hi H --count C [--batch 64] [--mode send|match]
//               [--timeout-ms 1000]
// With --dst, destinations are ADDR, ADDR+1, ... ADDR+N-1 (last 16 bits); --dst-file lists one
// destination per line, optionally followed by its source address (else --src). Probe i goes to
// destination i % N, so the order is netprobify's (round by round over the addresses).
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
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define PKT 64 /* room for an IPv6 (40) + TCP (20) header, or IPv6 + UDP (8) + tag (4) */
#define SEQ_BASE 0x10000000u
enum { T_TCP, T_ICMP, T_UDP };

static int family = 4, ptype = T_TCP, ntargets = 1, batch = 64, match = 0, timeout_ms = 1000;
static unsigned count = 1000, dport = 80, sport_lo = 65000, sport_hi = 65000;
static struct sockaddr_storage *dsts, *srcs; /* per target */
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
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }

static int parse_addr(const char *s, struct sockaddr_storage *out) {
  memset(out, 0, sizeof *out);
  if (family == 4) {
    struct sockaddr_in *a = (struct sockaddr_in *)out;
    a->sin_family = AF_INET;
    return inet_pton(AF_INET, s, &a->sin_addr) == 1;
  }
  struct sockaddr_in6 *a = (struct sockaddr_in6 *)out;
  a->sin6_family = AF_INET6;
  return inet_pton(AF_INET6, s, &a->sin6_addr) == 1;
}

/* Builds probe i into p; returns its length and fills the destination address. */
static size_t build(unsigned i, uint8_t *p, struct sockaddr_storage *to) {
  unsigned t = i % (unsigned)ntargets;
  uint16_t sport = (uint16_t)(sport_lo + i % (sport_hi - sport_lo + 1));
  uint32_t key = SEQ_BASE + i;
  static const uint8_t proto4[] = {IPPROTO_TCP, IPPROTO_ICMP, IPPROTO_UDP};
  static const uint8_t proto6[] = {IPPROTO_TCP, IPPROTO_ICMPV6, IPPROTO_UDP};
  static const size_t l4len[] = {20, 8, 12};
  size_t l4 = l4len[ptype], ip = family == 4 ? 20 : 40;
  uint8_t proto = family == 4 ? proto4[ptype] : proto6[ptype];
  memset(p, 0, PKT);
  *to = dsts[t];
  uint32_t pseudo;
  if (family == 4) {
    p[0] = 0x45; put16(p + 2, (uint16_t)(ip + l4)); put16(p + 4, (uint16_t)i); p[6] = 0x40; p[8] = 64;
    p[9] = proto;
    memcpy(p + 12, &((struct sockaddr_in *)&srcs[t])->sin_addr, 4);
    memcpy(p + 16, &((struct sockaddr_in *)&dsts[t])->sin_addr, 4);
    put16(p + 10, fold(sum16(p, 20, 0)));
    pseudo = sum16(p + 12, 8, 0) + proto + (uint32_t)l4;
  } else {
    p[0] = 0x60; put16(p + 4, (uint16_t)l4); p[6] = proto; p[7] = 64;
    memcpy(p + 8, &((struct sockaddr_in6 *)&srcs[t])->sin6_addr, 16);
    memcpy(p + 24, &((struct sockaddr_in6 *)&dsts[t])->sin6_addr, 16);
    pseudo = sum16(p + 8, 32, 0) + proto + (uint32_t)l4;
  }
  uint8_t *h = p + ip;
  if (ptype == T_TCP) {
    put16(h, sport); put16(h + 2, (uint16_t)dport); put32(h + 4, key);
    h[12] = 5 << 4; h[13] = 0x02; put16(h + 14, 65535);
    put16(h + 16, fold(sum16(h, l4, pseudo)));
  } else if (ptype == T_ICMP) {
    h[0] = family == 4 ? 8 : 128; put16(h + 4, (uint16_t)(key >> 16)); put16(h + 6, (uint16_t)key);
    put16(h + 2, fold(sum16(h, l4, family == 4 ? 0 : pseudo)));
  } else {
    put16(h, sport); put16(h + 2, (uint16_t)dport); put16(h + 4, (uint16_t)l4); put32(h + 8, key);
    uint16_t c = fold(sum16(h, l4, pseudo));
    put16(h + 6, c == 0 ? 0xffff : c);
  }
  return ip + l4;
}

/* The key a reply carries (see the header), or 0 when it is not an answer to our kind of probe. */
static int reply_key(const uint8_t *p, size_t len, uint32_t *key) {
  size_t off = 0;
  if (family == 4) { /* raw IPv4 sockets deliver the IP header; IPv6 ones start at the transport */
    if (len < 20) return 0;
    off = (size_t)(p[0] & 0xf) * 4;
  }
  if (len < off + 8) return 0;
  const uint8_t *h = p + off;
  if (ptype == T_TCP) {
    if (len < off + 20) return 0;
    uint8_t flags = h[13];
    if (!((flags & 0x12) == 0x12 || (flags & 0x04))) return 0;
    *key = get32(h + 8) - 1;
    return 1;
  }
  if (ptype == T_ICMP) {
    if (h[0] != (family == 4 ? 0 : 129)) return 0;
    *key = get32(h + 4);
    return 1;
  }
  /* UDP: port unreachable quoting IP + UDP header + tag */
  if (family == 4) {
    if (h[0] != 3 || h[1] != 3 || len < off + 8 + 20) return 0;
    size_t inner = off + 8 + (size_t)(h[8] & 0xf) * 4;
    if (len < inner + 12) return 0;
    *key = get32(p + inner + 8);
    return 1;
  }
  if (h[0] != 1 || h[1] != 4 || len < off + 8 + 40 + 12) return 0;
  *key = get32(h + 8 + 40 + 8);
  return 1;
}

static void *receiver(void *arg) {
  int fd = *(int *)arg;
  enum { B = 256, SLOT = 256 };
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
    /* recvmmsg's own timeout is only checked after a datagram arrives: SO_RCVTIMEO (10 ms) bounds the wait. */
    int n = recvmmsg(fd, msgs, B, MSG_WAITFORONE, NULL);
    if (n <= 0) continue;
    for (int k = 0; k < n; k++) {
      uint32_t key;
      if (!reply_key(bufs[k], msgs[k].msg_len, &key)) continue;
      uint32_t idx = key - SEQ_BASE;
      if (idx < count && !seen[idx]) { seen[idx] = 1; atomic_fetch_add(&matched, 1); t_last = now(); }
    }
  }
  return NULL;
}

static int attach_port_filter(int fd) {
  /* TCP only: accept segments whose destination port (our source port) is within [sport_lo, sport_hi]. */
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

/* Destinations ADDR .. ADDR+n-1 (last 16 bits), all from `src`. */
static int targets_from_range(const char *dst, const char *src) {
  dsts = calloc((size_t)ntargets, sizeof *dsts);
  srcs = calloc((size_t)ntargets, sizeof *srcs);
  struct sockaddr_storage base, s;
  if (!dsts || !srcs || !parse_addr(dst, &base) || !parse_addr(src, &s)) return 0;
  for (int t = 0; t < ntargets; t++) {
    dsts[t] = base; srcs[t] = s;
    if (family == 4) {
      struct sockaddr_in *a = (struct sockaddr_in *)&dsts[t];
      a->sin_addr.s_addr = htonl(ntohl(a->sin_addr.s_addr) + (uint32_t)t);
    } else {
      uint8_t *b = ((struct sockaddr_in6 *)&dsts[t])->sin6_addr.s6_addr;
      uint16_t low = (uint16_t)((b[14] << 8 | b[15]) + t);
      b[14] = low >> 8; b[15] = low & 0xff;
    }
  }
  return 1;
}

/* One "dst [src]" per line. */
static int targets_from_file(const char *file, const char *src) {
  FILE *f = fopen(file, "r");
  if (!f) return 0;
  size_t cap = 1024;
  dsts = malloc(cap * sizeof *dsts);
  srcs = malloc(cap * sizeof *srcs);
  char line[256], d[128], s[128];
  ntargets = 0;
  while (fgets(line, sizeof line, f)) {
    int n = sscanf(line, "%127s %127s", d, s);
    if (n < 1) continue;
    if ((size_t)ntargets == cap) {
      cap *= 2;
      dsts = realloc(dsts, cap * sizeof *dsts);
      srcs = realloc(srcs, cap * sizeof *srcs);
    }
    if (!dsts || !srcs || !parse_addr(d, &dsts[ntargets])) { fclose(f); return 0; }
    if (!parse_addr(n == 2 ? s : (src ? src : ""), &srcs[ntargets])) { fclose(f); return 0; }
    ntargets++;
  }
  fclose(f);
  return ntargets > 0;
}

int main(int argc, char **argv) {
  const char *src = NULL, *dst = NULL, *dst_file = NULL;
  for (int i = 1; i + 1 < argc; i += 2) {
    const char *k = argv[i], *v = argv[i + 1];
    if (!strcmp(k, "--family")) family = atoi(v);
    else if (!strcmp(k, "--type")) ptype = !strcmp(v, "icmp") ? T_ICMP : !strcmp(v, "udp") ? T_UDP : !strcmp(v, "tcp") ? T_TCP : -1;
    else if (!strcmp(k, "--src")) src = v;
    else if (!strcmp(k, "--dst")) dst = v;
    else if (!strcmp(k, "--dst-file")) dst_file = v;
    else if (!strcmp(k, "--targets")) ntargets = atoi(v);
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
  int ok = (family == 4 || family == 6) && ptype >= 0 && ntargets >= 1 && batch >= 1 && batch <= 1024 &&
           sport_hi >= sport_lo &&
           (dst_file ? targets_from_file(dst_file, src) : (src && dst && targets_from_range(dst, src)));
  if (!ok) {
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
    int rproto = ptype == T_TCP ? IPPROTO_TCP : family == 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6;
    rx = socket(af, SOCK_RAW, rproto);
    int rcvbuf = 64 << 20;
    if (rx < 0 || (ptype == T_TCP && attach_port_filter(rx) < 0)) { perror("rawref: rx socket"); return 70; }
    setsockopt(rx, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);
    struct timeval tv = {0, 10 * 1000};
    setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
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
  static const char *names[] = {"tcp", "icmp", "udp"};
  printf("{\"family\":%d,\"type\":\"%s\",\"mode\":\"%s\",\"targets\":%d,\"count\":%u,\"failed\":%lu,"
         "\"matched\":%u,\"send_seconds\":%.6f,\"send_pps\":%.0f,\"total_seconds\":%.6f,"
         "\"match_seconds\":%.6f,\"match_pps\":%.0f}\n",
         family, names[ptype], match ? "match" : "send", ntargets, count, failed, atomic_load(&matched),
         t1 - t0, count / (t1 - t0), t2 - t0, match && t_last > t0 ? t_last - t0 : 0.0,
         match && t_last > t0 ? atomic_load(&matched) / (t_last - t0) : 0.0);
  return 0;
}
