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
 * answered probes still untimed: docs/native.md). */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
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
    rs_send_records(s, b->data, b->rec, b->addrs, count, res);
    __atomic_store_n(&r->sub_tail, tail + 1, __ATOMIC_RELEASE);
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

/* args: data, records, addresses, first, count, cookie. Queues records [first, first+count) for the
 * send thread; returns false (nothing queued) when RS_SUB_SLOTS batches already wait. */
napi_value rs_submit(napi_env env, rs_sock *s, napi_value *argv) {
  uint8_t *data, *addrs;
  size_t data_len, addrs_len, rec_len;
  uint32_t *rec, first, count, cookie;
  if (rs_get_bytes(env, argv[0], &data, &data_len, "data") ||
      rs_get_u32_array(env, argv[1], &rec, &rec_len, "records") ||
      rs_get_bytes(env, argv[2], &addrs, &addrs_len, "addresses") || rs_get_u32(env, argv[3], &first, "first") ||
      rs_get_u32(env, argv[4], &count, "count") || rs_get_u32(env, argv[5], &cookie, "cookie"))
    return NULL;
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
