/* impair: a user-space network impairment stage for the netprobify lab.
 *
 * This kernel has no netem qdisc, so delay, jitter, duplication and reordering are done here: an
 * L2 bridge between two interfaces (veths in the lab's "impair" namespace) built on AF_PACKET
 * sockets. Every frame read on one side is put in a timed queue (a binary heap ordered by due time,
 * then arrival order) and written to the other side when due; a timerfd armed on CLOCK_MONOTONIC
 * with absolute deadlines and a 1 ns timer slack keeps the release time accurate to a few µs.
 *
 * PACKET_VNET_HDR is used on both sockets: frames sent by a local stack on a veth carry a partial
 * checksum (checksum offload) or are GSO super-frames; the virtio-net header carries that state
 * across unchanged, so the receiving stack finishes the checksum / segmentation as veth would.
 *
 *   impair IFACE_A IFACE_B [SEED]
 *
 * Commands on stdin, one per line (answer "ok" or "err ..." on stdout):
 *   set DIR key=value ...   DIR: ab (A->B), ba (B->A) or both. Keys: delay_us, jitter_us (uniform
 *                           ±), dup_pct, reorder_pct (the packet skips the delay and so overtakes
 *                           queued ones, as netem does), loss_pct.
 *   stats                   prints "stats" followed by key=value counters for both directions
 *   quit                    exits
 * The stage prints "ready" once both sockets are bound, and exits when stdin closes.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_FRAME (65536 + 64)
#define MAX_QUEUE (1u << 20)
#define RX_BATCH 256
/* The timer fires this early and the last stretch is a busy poll (still reading arrivals): timerfd
 * wake-ups on this kind of machine are 50-100 µs late, polling makes releases accurate to µs. */
#define SPIN_NS 200000ull

struct params {
  uint64_t delay_ns, jitter_ns;
  uint32_t dup_p, reorder_p, loss_p; /* probabilities scaled to 2^32 */
};

struct counters {
  uint64_t rx, tx, dup, reordered, lost, overflow, tx_err;
  uint64_t late_sum_ns, late_max_ns; /* send time minus due time */
  uint64_t rx_drop;                   /* frames the kernel dropped: socket buffer full */
};

struct pkt {
  uint64_t due, seq;
  int dir; /* 0: A->B, 1: B->A */
  uint32_t len;
  unsigned char data[];
};

static struct params P[2];
static struct counters C[2];
static int fds[2];
static struct pkt **heap;
static size_t heap_n;
static uint64_t seq_next;
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t rnd64(void) { /* xorshift64* */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545f4914f6cdd1dull;
}

static uint32_t rnd32(void) { return (uint32_t)(rnd64() >> 32); }

/* true with probability p / 2^32 */
static int chance(uint32_t p) { return p != 0 && rnd32() < p; }

static int before(const struct pkt *a, const struct pkt *b) {
  return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void heap_push(struct pkt *p) {
  size_t i = heap_n++;
  heap[i] = p;
  while (i > 0) {
    size_t up = (i - 1) / 2;
    if (!before(heap[i], heap[up])) break;
    struct pkt *t = heap[i];
    heap[i] = heap[up];
    heap[up] = t;
    i = up;
  }
}

static struct pkt *heap_pop(void) {
  struct pkt *top = heap[0];
  heap[0] = heap[--heap_n];
  size_t i = 0;
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < heap_n && before(heap[l], heap[m])) m = l;
    if (r < heap_n && before(heap[r], heap[m])) m = r;
    if (m == i) break;
    struct pkt *t = heap[i];
    heap[i] = heap[m];
    heap[m] = t;
    i = m;
  }
  return top;
}

static int open_side(const char *ifname) {
  unsigned idx = if_nametoindex(ifname);
  if (idx == 0) {
    fprintf(stderr, "impair: no interface %s\n", ifname);
    exit(2);
  }
  /* protocol 0: receives nothing until bound, so no frame of another interface slips in */
  int fd = socket(AF_PACKET, SOCK_RAW, 0);
  if (fd < 0) {
    perror("impair: socket(AF_PACKET)");
    exit(2);
  }
  int one = 1, big = 32 << 20;
  if (setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) < 0) perror("impair: PACKET_VNET_HDR");
  if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) < 0)
    perror("impair: PACKET_IGNORE_OUTGOING");
  if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one) < 0) perror("impair: SO_TIMESTAMPNS");
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big) < 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big) < 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = (int)idx;
  if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) {
    perror("impair: bind");
    exit(2);
  }
  return fd;
}

static void send_pkt(struct pkt *p, uint64_t now) {
  int out = fds[1 - p->dir];
  uint64_t late = now > p->due ? now - p->due : 0;
  C[p->dir].late_sum_ns += late;
  if (late > C[p->dir].late_max_ns) C[p->dir].late_max_ns = late;
  if (send(out, p->data, p->len, 0) < 0)
    C[p->dir].tx_err++;
  else
    C[p->dir].tx++;
}

static void enqueue(int dir, const unsigned char *buf, uint32_t len, uint64_t now) {
  const struct params *pp = &P[dir];
  struct counters *c = &C[dir];
  c->rx++;
  if (chance(pp->loss_p)) {
    c->lost++;
    return;
  }
  int copies = chance(pp->dup_p) ? 2 : 1;
  if (copies == 2) c->dup++;
  for (int k = 0; k < copies; k++) {
    uint64_t due = now + pp->delay_ns;
    if (pp->jitter_ns) {
      uint64_t span = 2 * pp->jitter_ns + 1;
      int64_t off = (int64_t)(rnd64() % span) - (int64_t)pp->jitter_ns;
      due = (off < 0 && (uint64_t)(-off) > due - now) ? now : due + (uint64_t)off;
    }
    if (chance(pp->reorder_p)) {
      due = now;
      c->reordered++;
    }
    if (heap_n >= MAX_QUEUE) {
      c->overflow++;
      continue;
    }
    struct pkt *p = malloc(sizeof *p + len);
    if (!p) {
      c->overflow++;
      continue;
    }
    p->due = due;
    p->seq = seq_next++;
    p->dir = dir;
    p->len = len;
    memcpy(p->data, buf, len);
    heap_push(p);
  }
}

static uint32_t pct_to_p(double pct) {
  if (pct <= 0) return 0;
  if (pct >= 100) return UINT32_MAX;
  return (uint32_t)(pct / 100.0 * 4294967296.0);
}

static void print_stats(void) {
  static const char *names[2] = {"ab", "ba"};
  for (int d = 0; d < 2; d++) {
    struct tpacket_stats st;
    socklen_t len = sizeof st;
    if (getsockopt(fds[d], SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0) C[d].rx_drop += st.tp_drops;
  }
  printf("stats queued=%zu", heap_n);
  for (int d = 0; d < 2; d++)
    printf(" %s_rx=%llu %s_tx=%llu %s_dup=%llu %s_reordered=%llu %s_lost=%llu %s_overflow=%llu %s_tx_err=%llu"
           " %s_late_sum_ns=%llu %s_late_max_ns=%llu %s_rx_drop=%llu",
           names[d], (unsigned long long)C[d].rx, names[d], (unsigned long long)C[d].tx, names[d],
           (unsigned long long)C[d].dup, names[d], (unsigned long long)C[d].reordered, names[d],
           (unsigned long long)C[d].lost, names[d], (unsigned long long)C[d].overflow, names[d],
           (unsigned long long)C[d].tx_err, names[d], (unsigned long long)C[d].late_sum_ns, names[d],
           (unsigned long long)C[d].late_max_ns, names[d], (unsigned long long)C[d].rx_drop);
  printf("\n");
}

/* Applies "set DIR k=v ..." to a copy first, so a bad key changes nothing. */
static int apply_set(char *args) {
  char *save = NULL;
  char *dir = strtok_r(args, " \t", &save);
  if (!dir) return -1;
  int lo, hi;
  if (strcmp(dir, "ab") == 0)
    lo = hi = 0;
  else if (strcmp(dir, "ba") == 0)
    lo = hi = 1;
  else if (strcmp(dir, "both") == 0)
    lo = 0, hi = 1;
  else
    return -1;
  struct params np[2] = {P[0], P[1]};
  char *kv;
  while ((kv = strtok_r(NULL, " \t", &save)) != NULL) {
    char *eq = strchr(kv, '=');
    if (!eq) return -1;
    *eq = 0;
    char *end;
    double v = strtod(eq + 1, &end);
    if (*end != 0 || v < 0) return -1;
    for (int d = lo; d <= hi; d++) {
      if (strcmp(kv, "delay_us") == 0)
        np[d].delay_ns = (uint64_t)(v * 1000.0);
      else if (strcmp(kv, "jitter_us") == 0)
        np[d].jitter_ns = (uint64_t)(v * 1000.0);
      else if (strcmp(kv, "dup_pct") == 0)
        np[d].dup_p = pct_to_p(v);
      else if (strcmp(kv, "reorder_pct") == 0)
        np[d].reorder_p = pct_to_p(v);
      else if (strcmp(kv, "loss_pct") == 0)
        np[d].loss_p = pct_to_p(v);
      else
        return -1;
    }
  }
  P[0] = np[0];
  P[1] = np[1];
  return 0;
}

/* Returns 1 to quit. Reads whatever is available and runs each complete line. */
static int handle_stdin(void) {
  static char line[4096];
  static size_t used;
  ssize_t n = read(0, line + used, sizeof line - 1 - used);
  if (n <= 0) return 1;
  used += (size_t)n;
  line[used] = 0;
  char *start = line, *nl;
  while ((nl = strchr(start, '\n')) != NULL) {
    *nl = 0;
    if (strncmp(start, "set ", 4) == 0) {
      puts(apply_set(start + 4) == 0 ? "ok" : "err bad set command");
    } else if (strcmp(start, "stats") == 0) {
      print_stats();
    } else if (strcmp(start, "quit") == 0) {
      return 1;
    } else if (*start) {
      puts("err unknown command");
    }
    fflush(stdout);
    start = nl + 1;
  }
  used = (size_t)(line + used - start);
  memmove(line, start, used);
  if (used == sizeof line - 1) used = 0; /* an absurdly long line: drop it */
  return 0;
}

static void arm(int tfd) {
  struct itimerspec its;
  memset(&its, 0, sizeof its);
  if (heap_n > 0) {
    uint64_t due = heap[0]->due > SPIN_NS ? heap[0]->due - SPIN_NS : 1;
    its.it_value.tv_sec = (time_t)(due / 1000000000ull);
    its.it_value.tv_nsec = (long)(due % 1000000000ull);
  }
  timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* Sends every packet that is due. */
static void send_due(void) {
  uint64_t now = now_ns();
  while (heap_n > 0 && heap[0]->due <= now) {
    struct pkt *p = heap_pop();
    send_pkt(p, now);
    free(p);
  }
}

/* Arrival time of a frame: the kernel's receive timestamp (CLOCK_REALTIME) moved to
 * CLOCK_MONOTONIC, so the time this stage took to wake up is not added to the delay. */
static uint64_t arrival_ns(struct msghdr *msg, uint64_t mono_now, uint64_t real_now) {
  for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
      struct timespec ts;
      memcpy(&ts, CMSG_DATA(c), sizeof ts);
      uint64_t real = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
      if (real == 0 || real > real_now) return mono_now;
      uint64_t age = real_now - real;
      return age < mono_now ? mono_now - age : mono_now;
    }
  }
  return mono_now;
}

static uint64_t real_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: impair IFACE_A IFACE_B [SEED]\n");
    return 64;
  }
  if (argc > 3) rng_state = strtoull(argv[3], NULL, 0) | 1;
  else rng_state ^= now_ns() | 1;
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  heap = calloc(MAX_QUEUE, sizeof *heap);
  unsigned char *buf = malloc(MAX_FRAME);
  if (!heap || !buf) return 2;
  fds[0] = open_side(argv[1]);
  fds[1] = open_side(argv[2]);
  int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (tfd < 0) {
    perror("impair: timerfd_create");
    return 2;
  }
  puts("ready");
  fflush(stdout);
  struct pollfd pf[4] = {
      {.fd = fds[0], .events = POLLIN}, {.fd = fds[1], .events = POLLIN},
      {.fd = tfd, .events = POLLIN},    {.fd = 0, .events = POLLIN},
  };
  int armed = 0;
  for (;;) {
    /* Due within SPIN_NS: poll without sleeping (reading arrivals meanwhile) until it is due.
     * Later: sleep on the timer, set SPIN_NS early. Nothing queued: sleep on input only. */
    int timeout = -1;
    if (heap_n > 0) {
      uint64_t now = now_ns();
      if (heap[0]->due <= now + SPIN_NS) {
        timeout = 0;
      } else if (!armed) {
        arm(tfd);
        armed = 1;
      }
    }
    if (poll(pf, 4, timeout) < 0) {
      if (errno == EINTR) continue;
      perror("impair: poll");
      return 2;
    }
    if (pf[2].revents & POLLIN) {
      uint64_t expirations;
      if (read(tfd, &expirations, sizeof expirations) < 0 && errno != EAGAIN) perror("impair: timerfd");
      armed = 0;
    }
    uint64_t top_before = heap_n > 0 ? heap[0]->due : UINT64_MAX;
    for (int d = 0; d < 2; d++) {
      if (!(pf[d].revents & POLLIN)) continue;
      for (int k = 0; k < RX_BATCH; k++) {
        char cbuf[256];
        struct iovec iov = {.iov_base = buf, .iov_len = MAX_FRAME};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
        ssize_t n = recvmsg(fds[d], &msg, MSG_DONTWAIT);
        if (n < 0) break;
        uint64_t mono = now_ns();
        enqueue(d, buf, (uint32_t)n, arrival_ns(&msg, mono, real_ns()));
      }
    }
    send_due();
    /* The earliest deadline changed (new packet ahead, or the head was sent): re-arm. */
    if (heap_n == 0 || heap[0]->due != top_before) armed = 0;
    if (pf[3].revents & (POLLIN | POLLHUP | POLLERR)) {
      if (handle_stdin()) break;
    }
  }
  return 0;
}
