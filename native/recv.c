/* Receiving off the JS thread: one native thread per socket blocks in poll() and moves what the
 * kernel has (received packets with their metadata, or TX timestamps from the error queue) into a
 * ring that JS reads as an ArrayBuffer. Single producer (the thread), single consumer (JS), indices
 * published with release/acquire atomics; JS is woken through a uv_async handle, which coalesces:
 * however many batches land while JS is busy, it runs once. The thread knows no protocol: records
 * carry the same metadata as recvBatch()/readTxTimestamps() (io.c writes both). When the ring is
 * full the thread waits for JS instead of dropping: the socket's kernel queue (16 MiB for RX) keeps
 * filling, and what the kernel drops past it is counted there (SO_MEMINFO). Each wait is counted in
 * the ring's header. A receive barrier (flushReceiver: the thread reads its socket now and publishes
 * the barrier's number in the header) lets JS know that every packet queued before it asked is in the
 * ring. The send thread (send.c) shares the ring, the wake and the stop. Layout:
 * docs/native.md; constants mirrored in src/native/ring.ts. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "rawsock.h"
#include "thread.h"

/* How long the receive thread lets packets gather after a read that did not fill its vector (see
 * rx_main). 1 ms: at 50,000 replies/s per socket the reads then come ~64 packets at a time, and the
 * thread's kernel time per packet fell from 2.2-2.9 to 1.0-1.3 us (50 us before; docs/performance.md). */
#define COALESCE_NS 1000000

static void ring_unref(struct rs_ring *r) {
  if (--r->refs == 0) {
    free(r->mem);
    free(r);
  }
}

static void ring_ab_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)data;
  ring_unref(hint);
}

uint8_t *rs_ring_record(struct rs_recv *r, uint32_t seq) {
  return r->ring->mem + RS_RING_HEADER_BYTES + (size_t)(seq & (r->slots - 1)) * r->stride;
}

static void stat_add(struct rs_recv *r, int word, uint32_t n) {
  __atomic_fetch_add(&r->info[word], n, __ATOMIC_RELAXED);
}

/* Waits until JS freed at least one record, or the receiver stops. Returns free records (0: stop). */
uint32_t rs_ring_wait_free(struct rs_recv *r, uint32_t head) {
  int waited = 0;
  for (;;) {
    if (__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) return 0;
    uint32_t free_ = r->slots - (head - __atomic_load_n(r->tail, __ATOMIC_ACQUIRE));
    if (free_ > 0) return free_;
    if (!waited) {
      stat_add(r, RS_RING_FULL_WAITS, 1);
      waited = 1;
      uv_async_send(&r->async->handle); /* JS may not know yet */
    }
    struct timespec ts = {0, 50000};
    nanosleep(&ts, NULL);
  }
}

/* Consumes the eventfd's count (a stop also sets r->stop, which the loops check before sleeping). */
static void clear_wake(struct rs_recv *r) {
  uint64_t v;
  ssize_t rd = read(r->stopfd, &v, sizeof v);
  (void)rd;
}

/* Blocks until the socket has something for this mode, a receive barrier is asked, or the receiver
 * stops (returns 0). */
static int wait_ready(struct rs_recv *r) {
  struct pollfd pf[2] = {{r->s->fd, r->mode == RS_RECV_ERRQUEUE ? POLLPRI : POLLIN, 0}, {r->stopfd, POLLIN, 0}};
  for (;;) {
    if (__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) return 0;
    int n = poll(pf, 2, -1);
    if (n < 0 && errno != EINTR) {
      rs_ring_fail(r, errno);
      return 0;
    }
    if (n > 0 && (pf[1].revents & POLLIN)) {
      if (__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) return 0;
      clear_wake(r); /* a receive barrier: read the socket now (rx_main answers it) */
      return 1;
    }
    if (n > 0) return 1;
  }
}

/* Sleeps up to ns on the eventfd alone: a receive barrier or stop (which write it) ends the sleep. */
static void nap(struct rs_recv *r, long ns) {
  struct pollfd pf = {r->stopfd, POLLIN, 0};
  struct timespec ts = {ns / 1000000000L, ns % 1000000000L};
  if (ppoll(&pf, 1, &ts, NULL) > 0) clear_wake(r);
}

void rs_ring_fail(struct rs_recv *r, int err) {
  __atomic_store_n(&r->info[RS_RING_ERRNO], (uint32_t)err, __ATOMIC_RELEASE);
  uv_async_send(&r->async->handle);
}

/* The thread's own recvmmsg vectors (allocated once per thread). */
struct bufs {
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  struct sockaddr_in6 sa[BATCH];
  uint8_t payload[BATCH][64]; /* error queue: the quoted packet, unused (OPT_TSONLY) */
  uint8_t ctrl[BATCH][RS_RX_CTRL_LEN];
};

static void point(struct bufs *b, uint32_t i, void *data, size_t len, int with_name) {
  b->iov[i].iov_base = data;
  b->iov[i].iov_len = len;
  struct msghdr *m = &b->msgs[i].msg_hdr;
  memset(m, 0, sizeof *m);
  m->msg_iov = &b->iov[i];
  m->msg_iovlen = 1;
  if (with_name) {
    m->msg_name = &b->sa[i];
    m->msg_namelen = sizeof b->sa[i];
  }
  m->msg_control = b->ctrl[i];
  m->msg_controllen = RS_RX_CTRL_LEN;
}

/* Answers receive barrier `want` (the socket was read empty after it was asked): every packet queued
 * before that flush() is in the ring before the number is published (after the head). */
static void answer_flush(struct rs_recv *r, uint32_t want) {
  __atomic_store_n(&r->info[RS_RING_FLUSHED], want, __ATOMIC_RELEASE);
  uv_async_send(&r->async->handle);
}

/* Received packets: recvmmsg straight into the ring's slots, metadata written beside each. A receive
 * barrier (rs_flush) is answered once a read that began after it was asked found the socket empty
 * (EAGAIN, or fewer packets than it could take). */
static void *rx_main(void *arg) {
  struct rs_recv *r = arg;
  rs_sock *s = r->s;
  struct bufs *b = malloc(sizeof *b);
  if (b == NULL) {
    rs_ring_fail(r, ENOMEM);
    return NULL;
  }
  uint32_t head = *r->head, flushed = 0;
  int stale = 0;
  for (;;) {
    uint32_t free_ = rs_ring_wait_free(r, head);
    if (free_ == 0) break;
    uint32_t max = free_ < BATCH ? free_ : BATCH;
    uint32_t want = __atomic_load_n(&r->flush_req, __ATOMIC_SEQ_CST);
    if ((s->flags & RS_SLOW_RECEIVE) && want == flushed) {
      /* test only: as if starved, every read waits 2 s (a barrier or stop ends the wait) */
      nap(r, 2000000000L);
      want = __atomic_load_n(&r->flush_req, __ATOMIC_SEQ_CST);
    }
    for (uint32_t i = 0; i < max; i++) point(b, i, rs_ring_record(r, head + i) + r->meta_words * 4, r->slot_bytes, 1);
    int n = recvmmsg(s->fd, b->msgs, max, MSG_DONTWAIT | MSG_TRUNC, NULL);
    if (n < 0) {
      int e = errno;
      if (e == EAGAIN || e == EWOULDBLOCK) {
        if (want != flushed) answer_flush(r, flushed = want);
        if (!wait_ready(r)) break;
        continue;
      }
      if (e == EINTR) continue;
      /* A pending socket error is returned (and cleared) instead of the packets: it belongs to an
       * earlier packet. Counted, and read again; a real failure repeats. */
      if (rs_is_socket_error(e) && ++stale <= 4) {
        __atomic_fetch_add(&s->stale_errors, 1, __ATOMIC_RELAXED);
        continue;
      }
      rs_ring_fail(r, e);
      break;
    }
    stale = 0;
    for (int i = 0; i < n; i++)
      rs_rx_meta(s, &b->msgs[i].msg_hdr, b->msgs[i].msg_len, &b->sa[i], r->slot_bytes, (uint32_t *)rs_ring_record(r, head + i));
    head += (uint32_t)n;
    __atomic_store_n(r->head, head, __ATOMIC_RELEASE);
    if ((uint32_t)n < max && want != flushed) answer_flush(r, flushed = want);
    else uv_async_send(&r->async->handle);
    /* Fewer packets than a full read: let more arrive before the next read, rather than paying a
     * read, a wake of JS and a sleep for every few (timestamps are the kernel's: the wait shifts no
     * RTT, only when JS sees the reply). A receive barrier ends the wait. */
    if ((uint32_t)n < BATCH) nap(r, COALESCE_NS);
  }
  free(b);
  return NULL;
}

/* TX timestamps: the error queue, one record (RS_TXTS_WORDS) per timestamp; other entries skipped. */
static void *errq_main(void *arg) {
  struct rs_recv *r = arg;
  rs_sock *s = r->s;
  struct bufs *b = malloc(sizeof *b);
  if (b == NULL) {
    rs_ring_fail(r, ENOMEM);
    return NULL;
  }
  uint32_t head = *r->head;
  for (;;) {
    uint32_t free_ = rs_ring_wait_free(r, head);
    if (free_ == 0) break;
    uint32_t max = free_ < BATCH ? free_ : BATCH;
    for (uint32_t i = 0; i < max; i++) point(b, i, b->payload[i], sizeof b->payload[i], 0);
    int n = recvmmsg(s->fd, b->msgs, max, MSG_ERRQUEUE | MSG_DONTWAIT, NULL);
    if (n < 0) {
      int e = errno;
      if (e == EAGAIN || e == EWOULDBLOCK) {
        /* poll() reports POLLERR for a pending socket error too: clear it, or it would spin */
        rs_clear_stale_error(s);
        if (!wait_ready(r)) break;
        continue;
      }
      if (e == EINTR) continue;
      rs_ring_fail(r, e);
      break;
    }
    uint32_t got = 0;
    int other = 0;
    for (int i = 0; i < n; i++) {
      if (rs_errq_entry(s, &b->msgs[i].msg_hdr, (uint32_t *)rs_ring_record(r, head + got))) got++;
      else other = 1;
    }
    /* dequeuing sets sk_err when an ICMP error is next in the queue: do not let it fail a send */
    if (other && (s->flags & RS_RECVERR)) rs_clear_stale_error(s);
    if (got == 0) continue;
    head += got;
    __atomic_store_n(r->head, head, __ATOMIC_RELEASE);
    uv_async_send(&r->async->handle);
  }
  free(b);
  return NULL;
}

static void release_refs(struct rs_recv *r) {
  if (r->cb_ref != NULL) napi_delete_reference(r->env, r->cb_ref);
  if (r->self_ref != NULL) napi_delete_reference(r->env, r->self_ref);
  if (r->async_ctx != NULL) napi_async_destroy(r->env, r->async_ctx);
  r->cb_ref = r->self_ref = NULL;
  r->async_ctx = NULL;
}

/* JS side of the wake: one call per coalesced batch of wakes. cb(err) with err = null, or the error
 * the thread stopped on (then the receiver is stopped and the callback let go of). */
static void on_async(uv_async_t *h) {
  rs_async *a = (rs_async *)h;
  struct rs_recv *r = a->recv;
  if (r == NULL || r->cb_ref == NULL) return;
  napi_env env = r->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, self, arg;
  napi_get_reference_value(env, r->cb_ref, &cb);
  napi_get_reference_value(env, r->self_ref, &self);
  uint32_t err = __atomic_load_n(&r->info[RS_RING_ERRNO], __ATOMIC_ACQUIRE);
  if (err != 0) {
    napi_value code, msg, en, sc;
    const char *name = strerrorname_np((int)err);
    napi_create_string_utf8(env, name ? name : "EIO", NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, strerror((int)err), NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, code, msg, &arg);
    napi_create_int32(env, (int32_t)err, &en);
    napi_create_string_utf8(env, "recvmmsg", NAPI_AUTO_LENGTH, &sc);
    napi_set_named_property(env, arg, "errno", en);
    napi_set_named_property(env, arg, "syscall", sc);
  } else {
    napi_get_null(env, &arg);
  }
  napi_value result;
  napi_status st = napi_make_callback(env, r->async_ctx, self, cb, 1, &arg, &result);
  if (st == napi_pending_exception) {
    napi_value exc;
    if (napi_get_and_clear_last_exception(env, &exc) == napi_ok) napi_fatal_exception(env, exc);
  }
  napi_close_handle_scope(env, scope);
}

static void free_async(uv_handle_t *h) { free(h); }

/* Stops the thread (joined here: it never outlives the socket), closes the wake handle, lets go of
 * the ring (freed once JS drops its ArrayBuffer too) and of the callback. Idempotent. */
void rs_recv_stop(rs_sock *s) {
  struct rs_recv *r = s->recv;
  if (r == NULL) return;
  s->recv = NULL;
  __atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
  uint64_t one = 1;
  ssize_t w = write(r->stopfd, &one, sizeof one);
  (void)w;
  pthread_join(r->thread, NULL);
  close(r->stopfd);
  r->async->recv = NULL;
  uv_close((uv_handle_t *)&r->async->handle, free_async);
  release_refs(r);
  ring_unref(r->ring);
  free(r->subs);
  free(r);
}

int rs_sending(rs_sock *s) { return s->recv != NULL && s->recv->mode == RS_RECV_SEND; }

/* args: mode (RS_RECV_PACKETS | RS_RECV_ERRQUEUE), slots (a power of two), slotBytes, callback.
 * Returns the ring as an ArrayBuffer. */
napi_value rs_recv_start(napi_env env, rs_sock *s, napi_value self, napi_value *argv) {
  uint32_t mode, slots, slot_bytes;
  if (rs_get_u32(env, argv[0], &mode, "mode") || rs_get_u32(env, argv[1], &slots, "slots") ||
      rs_get_u32(env, argv[2], &slot_bytes, "slotBytes"))
    return NULL;
  napi_valuetype t;
  napi_typeof(env, argv[3], &t);
  if (t != napi_function) return rs_throw_type(env, "callback must be a function");
  if (mode > RS_RECV_SEND) return rs_throw_type(env, "mode must be 0, 1 or 2");
  if (slots < 2 || slots > (1u << 20) || (slots & (slots - 1))) return rs_throw_type(env, "slots must be a power of two in [2, 2^20]");
  if (mode == RS_RECV_PACKETS ? (slot_bytes == 0 || slot_bytes > 65535) : slot_bytes != 0)
    return rs_throw_type(env, "slotBytes must be in [1, 65535] for packets, else 0");
  if (s->fd < 0) return rs_throw_errno(env, EBADF, "pthread_create");
  if (s->recv != NULL) return rs_throw_errno(env, EBUSY, "pthread_create");
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return rs_throw_errno(env, EINVAL, "napi_get_uv_event_loop");

  struct rs_recv *r = calloc(1, sizeof *r);
  struct rs_ring *ring = calloc(1, sizeof *ring);
  rs_async *a = calloc(1, sizeof *a);
  uint32_t meta_words = mode == RS_RECV_PACKETS ? RS_RECV_META_WORDS : mode == RS_RECV_ERRQUEUE ? RS_TXTS_WORDS : RS_SENT_WORDS;
  uint32_t stride = (meta_words * 4 + slot_bytes + 7) & ~7u;
  size_t len = RS_RING_HEADER_BYTES + (size_t)slots * stride;
  if (r == NULL || ring == NULL || a == NULL || (ring->mem = aligned_alloc(64, (len + 63) & ~(size_t)63)) == NULL) {
    free(r);
    free(a);
    if (ring) free(ring->mem);
    free(ring);
    return rs_throw_errno(env, ENOMEM, "malloc");
  }
  r->meta_words = meta_words;
  r->stride = stride;
  memset(ring->mem, 0, RS_RING_HEADER_BYTES); /* records are written before JS may read them: no page touched early */
  ring->len = len;
  ring->refs = 1;
  r->s = s;
  r->mode = mode;
  r->slots = slots;
  r->slot_bytes = slot_bytes;
  r->ring = ring;
  r->head = (uint32_t *)ring->mem + RS_RING_HEAD;
  r->tail = (uint32_t *)ring->mem + RS_RING_TAIL;
  r->info = (uint32_t *)ring->mem;
  r->info[RS_RING_SLOTS] = slots;
  r->info[RS_RING_STRIDE] = r->stride;
  r->info[RS_RING_META_WORDS] = r->meta_words;
  r->env = env;
  napi_value ab;
  if (napi_create_external_arraybuffer(env, ring->mem, len, ring_ab_finalize, ring, &ab) != napi_ok) {
    free(ring->mem);
    free(ring);
    free(r);
    free(a);
    return rs_throw_errno(env, ENOMEM, "napi_create_external_arraybuffer");
  }
  ring->refs = 2;
  r->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  int e = r->stopfd < 0 ? errno : uv_async_init(loop, &a->handle, on_async);
  if (e != 0) {
    const char *what = r->stopfd < 0 ? "eventfd" : "uv_async_init";
    if (r->stopfd >= 0) close(r->stopfd);
    ring_unref(ring);
    free(r);
    free(a);
    return rs_throw_errno(env, e < 0 ? -e : e, what);
  }
  a->recv = r;
  r->async = a;
  napi_create_reference(env, self, 1, &r->self_ref);
  napi_create_reference(env, argv[3], 1, &r->cb_ref);
  napi_value name;
  napi_create_string_utf8(env, "netprobify.rawsock.receiver", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, self, name, &r->async_ctx);
  if (mode == RS_RECV_SEND && (r->subs = calloc(RS_SUB_SLOTS, sizeof *r->subs)) == NULL) e = ENOMEM;
  else e = pthread_create(&r->thread, NULL, mode == RS_RECV_PACKETS ? rx_main : mode == RS_RECV_ERRQUEUE ? errq_main : rs_send_main, r);
  if (e != 0) {
    free(r->subs);
    close(r->stopfd);
    a->recv = NULL;
    uv_close((uv_handle_t *)&a->handle, free_async);
    release_refs(r);
    ring_unref(ring);
    free(r);
    return rs_throw_errno(env, e, "pthread_create");
  }
  /* named, so that top -H, perf and the daemon bench tell the threads apart (all others are "node") */
  pthread_setname_np(r->thread, mode == RS_RECV_PACKETS ? "npf-recv" : mode == RS_RECV_ERRQUEUE ? "npf-txts" : "npf-send");
  s->recv = r;
  return ab;
}
