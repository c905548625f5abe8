/* Sending off the JS thread: JS builds a batch of packets and submit() copies it into a queue (no
 * syscall unless the thread sleeps); the socket's send thread sends the batch as sendBatch() does
 * (io.c rs_send_records: every refusal keeps its errno), then reads the TX
 * timestamps its sends queued, and writes both into the ring JS drains (recv.c's ring, uv_async
 * wake). Records, RS_SENT_WORDS each: [RS_SENT_RESULT, cookie, index in batch, errno, TX id, 0] per
 * packet, then [RS_SENT_TXTS, id, flags, sec, nsec, 0] per timestamp, in that order, so a timestamp
 * never precedes the result that names its id. The thread reads the error queue itself, right after
 * its own sends: a thread asleep on the error queue would be woken from inside the driver's transmit
 * path, between the timestamp and the packet leaving, and lengthen every RTT (docs/performance.md).
 * flush() asks the thread for a barrier: it reads the error queue again and writes
 * [RS_SENT_FLUSH, number, 0, 0, 0, 0] after what it read, so every TX timestamp the kernel queued
 * before the call precedes that record (the engine waits for it before it ends an iteration with
 * answered probes still untimed: docs/native.md).
 * Pacing on the wire: a batch may carry the CLOCK_MONOTONIC time it is scheduled for (the engine's
 * pacer's release time). The thread sends it no earlier than that time plus the schedule's shift; when
 * a batch's sends end more than RS_PACE_SLACK_NS after that, the thread was held back (preempted,
 * woken late), and the shift grows by the whole delay, so that a stall delays every later batch of
 * the schedule instead of compressing them into a burst. A batch marked fresh starts a new schedule
 * (shift 0). Batches with no time go at once and leave the shift alone. The thread publishes the shift
 * in its ring's header (RS_RING_SHIFT_US), so that the pacer runs that much behind and its releases do
 * not pile up in the queue waiting for their time (docs/native.md). */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "rawsock.h"
#include "thread.h"

/* Moves the TX timestamps waiting in the error queue into the ring; returns the new head. */
static uint32_t drain_errq(struct rs_recv *r, uint32_t head, struct mmsghdr *msgs, struct iovec *iov,
                           uint8_t (*payload)[64], uint8_t (*ctrl)[RS_RX_CTRL_LEN]) {
  rs_sock *s = r->s;
  for (;;) {
    uint32_t free_ = rs_ring_wait_free(r, head);
    if (free_ == 0) return head;
    uint32_t max = free_ < BATCH ? free_ : BATCH;
    for (uint32_t i = 0; i < max; i++) {
      iov[i].iov_base = payload[i];
      iov[i].iov_len = sizeof payload[i];
      memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_control = ctrl[i];
      msgs[i].msg_hdr.msg_controllen = RS_RX_CTRL_LEN;
    }
    int n = recvmmsg(s->fd, msgs, max, MSG_ERRQUEUE | MSG_DONTWAIT, NULL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      rs_clear_stale_error(s); /* poll() reports POLLERR for it: it would never sleep */
      return head;
    }
    int other = 0;
    for (int i = 0; i < n; i++) {
      uint32_t *o = (uint32_t *)rs_ring_record(r, head);
      if (rs_errq_entry(s, &msgs[i].msg_hdr, o + 1)) {
        o[0] = RS_SENT_TXTS;
        o[5] = 0;
        head++;
      } else {
        other = 1;
      }
    }
    /* dequeuing sets sk_err when an ICMP error is next in the queue: do not let it fail a send */
    if (other && (s->flags & RS_RECVERR)) rs_clear_stale_error(s);
    __atomic_store_n(r->head, head, __ATOMIC_RELEASE);
  }
}

/* Lateness a batch's sends may have without shifting the schedule: the usual hand-off from JS plus a
 * 64-packet sendmmsg stays below it on a quiet machine; on the wire a gap is then never shorter than
 * scheduled minus this. */
#define RS_PACE_SLACK_NS 500000LL

static int64_t mono_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* Answers flush number n: the error queue drained (every timestamp queued before the call that asked),
 * then the RS_SENT_FLUSH record after them. Returns the new head. */
static uint32_t answer_flush(struct rs_recv *r, uint32_t head, uint32_t n, struct mmsghdr *msgs, struct iovec *iov,
                             uint8_t (*payload)[64], uint8_t (*ctrl)[RS_RX_CTRL_LEN]) {
  head = drain_errq(r, head, msgs, iov, payload, ctrl);
  if (rs_ring_wait_free(r, head) == 0) return head; /* stopping */
  uint32_t *o = (uint32_t *)rs_ring_record(r, head++);
  o[0] = RS_SENT_FLUSH;
  o[1] = n;
  o[2] = o[3] = o[4] = o[5] = 0;
  __atomic_store_n(r->head, head, __ATOMIC_RELEASE);
  uv_async_send(&r->async->handle);
  return head;
}

/* Waits until CLOCK_MONOTONIC reaches t, answering flushes and moving TX timestamps meanwhile (JS may
 * wait for either). Returns 0, or an errno when it must stop (the ring was failed) or -1 when stopping. */
static int wait_until(struct rs_recv *r, int64_t t, uint32_t *head, uint32_t *flushed, struct mmsghdr *msgs,
                      struct iovec *iov, uint8_t (*payload)[64], uint8_t (*ctrl)[RS_RX_CTRL_LEN]) {
  for (;;) {
    if (__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) return -1;
    uint32_t want = __atomic_load_n(&r->flush_req, __ATOMIC_SEQ_CST);
    if (want != *flushed) *head = answer_flush(r, *head, *flushed = want, msgs, iov, payload, ctrl);
    int64_t left = t - mono_ns();
    if (left <= 0) return 0;
    /* poll's own slack grows with its timeout (1/1000 of it): sleep long waits in two steps */
    if (left > 2000000) left -= left / 512;
    __atomic_store_n(&r->sleeping, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&r->flush_req, __ATOMIC_SEQ_CST) == *flushed) {
      struct pollfd pf[2] = {{r->stopfd, POLLIN, 0}, {r->s->fd, POLLPRI, 0}};
      struct timespec ts = {left / 1000000000LL, left % 1000000000LL};
      int n = ppoll(pf, 2, &ts, NULL);
      if (n < 0 && errno != EINTR) {
        __atomic_store_n(&r->sleeping, 0, __ATOMIC_SEQ_CST);
        return errno;
      }
      if (n > 0 && pf[0].revents) {
        uint64_t v;
        ssize_t rd = read(r->stopfd, &v, sizeof v);
        (void)rd;
      }
      if (n > 0 && pf[1].revents) {
        uint32_t h = drain_errq(r, *head, msgs, iov, payload, ctrl);
        if (h != *head) {
          *head = h;
          uv_async_send(&r->async->handle);
        }
      }
    }
    __atomic_store_n(&r->sleeping, 0, __ATOMIC_SEQ_CST);
  }
}

void *rs_send_main(void *arg) {
  struct rs_recv *r = arg;
  rs_sock *s = r->s;
  struct scratch {
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    uint8_t payload[BATCH][64];
    uint8_t ctrl[BATCH][RS_RX_CTRL_LEN];
  } *sc = malloc(sizeof *sc);
  if (sc == NULL) {
    rs_ring_fail(r, ENOMEM);
    return NULL;
  }
  struct mmsghdr *msgs = sc->msgs;
  struct iovec *iov = sc->iov;
  uint8_t(*payload)[64] = sc->payload;
  uint8_t(*ctrl)[RS_RX_CTRL_LEN] = sc->ctrl;
  uint32_t res[BATCH * RS_SEND_RES_WORDS];
  uint32_t head = *r->head, flushed = 0;
  while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
    uint32_t want = __atomic_load_n(&r->flush_req, __ATOMIC_SEQ_CST);
    if (want != flushed) head = answer_flush(r, head, flushed = want, msgs, iov, payload, ctrl);
    uint32_t tail = r->sub_tail;
    if (tail == __atomic_load_n(&r->sub_head, __ATOMIC_ACQUIRE)) {
      uint32_t h = drain_errq(r, head, msgs, iov, payload, ctrl);
      if (h != head) {
        head = h;
        uv_async_send(&r->async->handle);
      }
      /* sleep unless JS submitted or asked for a flush meanwhile (it reads `sleeping` after publishing) */
      __atomic_store_n(&r->sleeping, 1, __ATOMIC_SEQ_CST);
      if (__atomic_load_n(&r->sub_head, __ATOMIC_SEQ_CST) == tail &&
          __atomic_load_n(&r->flush_req, __ATOMIC_SEQ_CST) == flushed) {
        struct pollfd pf[2] = {{r->stopfd, POLLIN, 0}, {s->fd, POLLPRI, 0}};
        if (poll(pf, 2, -1) < 0 && errno != EINTR) {
          rs_ring_fail(r, errno);
          break;
        }
        uint64_t v;
        ssize_t rd = read(r->stopfd, &v, sizeof v);
        (void)rd;
      }
      __atomic_store_n(&r->sleeping, 0, __ATOMIC_SEQ_CST);
      continue;
    }
    struct rs_sub *b = &r->subs[tail % RS_SUB_SLOTS];
    uint32_t count = b->count, cookie = b->cookie;
    int64_t due = 0;
    if (b->at_ns != 0) {
      if (b->fresh && r->shift_ns != 0) {
        r->shift_ns = 0;
        __atomic_store_n(&r->info[RS_RING_SHIFT_US], 0, __ATOMIC_RELAXED);
      }
      due = b->at_ns + r->shift_ns;
      int e = wait_until(r, due, &head, &flushed, msgs, iov, payload, ctrl);
      if (e > 0) {
        rs_ring_fail(r, e);
        break;
      }
      if (e < 0) break; /* stopping */
    }
    rs_send_records(s, b->data, b->rec, b->addrs, count, res);
    if (due != 0) {
      /* the sends ended this late: their packets left at most that late, so the rest of the schedule
       * moves back by as much */
      int64_t late = mono_ns() - due;
      if (late > RS_PACE_SLACK_NS) {
        r->shift_ns += late;
        __atomic_store_n(&r->info[RS_RING_SHIFT_US], (uint32_t)(r->shift_ns / 1000), __ATOMIC_RELAXED);
      }
    }
    __atomic_store_n(&r->sub_tail, tail + 1, __ATOMIC_RELEASE);
    if ((s->flags & RS_STALL_SEND_ONCE) && !r->stalled) { /* test only: as if preempted for 100 ms */
      r->stalled = 1;
      struct timespec ts = {0, 100000000};
      nanosleep(&ts, NULL);
    }
    if (s->flags & RS_SLOW_SEND_REPORT) { /* test only: as if preempted before reporting */
      struct timespec ts = {0, 5000000};
      nanosleep(&ts, NULL);
    }
    for (uint32_t k = 0; k < count; k++) {
      if (rs_ring_wait_free(r, head) == 0) break; /* stopping */
      uint32_t *o = (uint32_t *)rs_ring_record(r, head++);
      o[0] = RS_SENT_RESULT;
      o[1] = cookie;
      o[2] = k;
      o[3] = res[k * RS_SEND_RES_WORDS];
      o[4] = res[k * RS_SEND_RES_WORDS + 1];
      o[5] = 0;
    }
    __atomic_store_n(r->head, head, __ATOMIC_RELEASE);
    head = drain_errq(r, head, msgs, iov, payload, ctrl);
    uv_async_send(&r->async->handle);
  }
  free(sc);
  return NULL;
}

static napi_value range(napi_env env, const char *msg) {
  napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
  return NULL;
}

/* args: data, records, addresses, first, count, cookie, at (CLOCK_MONOTONIC ns the batch is scheduled
 * for, a number; 0: now), fresh (a boolean: at starts a new schedule). Queues records
 * [first, first+count) for the send thread; returns false (nothing queued) when RS_SUB_SLOTS batches
 * already wait. */
napi_value rs_submit(napi_env env, rs_sock *s, napi_value *argv) {
  uint8_t *data, *addrs;
  size_t data_len, addrs_len, rec_len;
  uint32_t *rec, first, count, cookie;
  if (rs_get_bytes(env, argv[0], &data, &data_len, "data") ||
      rs_get_u32_array(env, argv[1], &rec, &rec_len, "records") ||
      rs_get_bytes(env, argv[2], &addrs, &addrs_len, "addresses") || rs_get_u32(env, argv[3], &first, "first") ||
      rs_get_u32(env, argv[4], &count, "count") || rs_get_u32(env, argv[5], &cookie, "cookie"))
    return NULL;
  double at;
  bool fresh;
  if (napi_get_value_double(env, argv[6], &at) != napi_ok || !(at >= 0 && at < 9.2e18))
    return rs_throw_type(env, "at must be a number of nanoseconds >= 0");
  if (napi_get_value_bool(env, argv[7], &fresh) != napi_ok) return rs_throw_type(env, "fresh must be a boolean");
  struct rs_recv *r = s->recv;
  if (s->fd < 0 || r == NULL || r->mode != RS_RECV_SEND) return rs_throw_errno(env, s->fd < 0 ? EBADF : EINVAL, "submit");
  if (count == 0 || count > BATCH) return range(env, "count must be in [1, 64]");
  if ((uint64_t)first + count > rec_len / RS_SEND_REC_WORDS) return range(env, "first + count exceeds records");
  size_t total = 0;
  for (uint32_t k = 0; k < count; k++) {
    const uint32_t *q = rec + (size_t)(first + k) * RS_SEND_REC_WORDS;
    if ((uint64_t)q[0] + q[1] > data_len || q[1] == 0) return range(env, "record packet outside data");
    if (((uint64_t)q[2] + 1) * RS_ADDR_BYTES > addrs_len) return range(env, "record address outside addresses");
    total += q[1];
  }
  if (total > RS_SUB_DATA) return range(env, "batch larger than a submission slot (128 KiB)");
  uint32_t head = r->sub_head;
  napi_value out;
  if (head - __atomic_load_n(&r->sub_tail, __ATOMIC_ACQUIRE) >= RS_SUB_SLOTS) {
    napi_get_boolean(env, false, &out);
    return out;
  }
  struct rs_sub *b = &r->subs[head % RS_SUB_SLOTS];
  uint32_t off = 0;
  for (uint32_t k = 0; k < count; k++) {
    const uint32_t *q = rec + (size_t)(first + k) * RS_SEND_REC_WORDS;
    uint32_t *o = b->rec + (size_t)k * RS_SEND_REC_WORDS;
    memcpy(b->data + off, data + q[0], q[1]);
    memcpy(b->addrs + (size_t)k * RS_ADDR_BYTES, addrs + (size_t)q[2] * RS_ADDR_BYTES, RS_ADDR_BYTES);
    o[0] = off;
    o[1] = q[1];
    o[2] = k;
    o[3] = q[3];
    off += q[1];
  }
  b->count = count;
  b->cookie = cookie;
  b->at_ns = (int64_t)at;
  b->fresh = fresh;
  __atomic_store_n(&r->sub_head, head + 1, __ATOMIC_SEQ_CST);
  if (__atomic_load_n(&r->sleeping, __ATOMIC_SEQ_CST)) {
    uint64_t one = 1;
    ssize_t w = write(r->stopfd, &one, sizeof one);
    (void)w;
  }
  napi_get_boolean(env, true, &out);
  return out;
}

/* Asks the send thread for a barrier (see the top of this file); returns the flush's number, which
 * its RS_SENT_FLUSH record carries. On a receive thread (packets): a receive barrier, answered by the
 * number in the ring header's RS_RING_FLUSHED (recv.c). */
napi_value rs_flush(napi_env env, rs_sock *s) {
  struct rs_recv *r = s->recv;
  if (s->fd < 0 || r == NULL || r->mode == RS_RECV_ERRQUEUE) return rs_throw_errno(env, s->fd < 0 ? EBADF : EINVAL, "flush");
  uint32_t n = __atomic_add_fetch(&r->flush_req, 1, __ATOMIC_SEQ_CST);
  /* a receive thread may sleep in poll or between reads: always woken (the barrier is rare) */
  if (r->mode == RS_RECV_PACKETS || __atomic_load_n(&r->sleeping, __ATOMIC_SEQ_CST)) {
    uint64_t one = 1;
    ssize_t w = write(r->stopfd, &one, sizeof one);
    (void)w;
  }
  return rs_u32(env, n);
}
