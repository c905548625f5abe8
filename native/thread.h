/* What the receive and send threads share (recv.c, send.c): the ring JS reads, the thread's state,
 * and for the send thread the queue of batches JS submitted. Private to those two files. */
#ifndef NETPROBIFY_THREAD_H
#define NETPROBIFY_THREAD_H

#include <pthread.h>
#include <stdint.h>

#include "rawsock.h"

#define BATCH 64             /* packets per recvmmsg, per submitted batch */
#define RS_SUB_SLOTS 16      /* batches JS can submit ahead of the send thread */
#define RS_SUB_DATA (128 << 10) /* packet bytes per submitted batch */

struct rs_ring {
  uint8_t *mem;
  size_t len;
  int refs; /* the socket's receiver and the ArrayBuffer JS holds; JS thread only */
};

typedef struct rs_async {
  uv_async_t handle;
  struct rs_recv *recv; /* NULL once the receiver let go of it */
} rs_async;

struct rs_recv {
  rs_sock *s;
  uint32_t mode, slots, stride, meta_words, slot_bytes;
  struct rs_ring *ring;
  uint32_t *head, *tail, *info; /* inside ring->mem */
  pthread_t thread;
  int stopfd;
  int stop; /* atomic */
  rs_async *async;
  napi_env env;
  napi_ref cb_ref, self_ref;
  napi_async_context async_ctx;
  /* send mode: batches JS submitted (single producer: JS, single consumer: the thread) */
  struct rs_sub *subs;
  uint32_t sub_head, sub_tail; /* atomic */
  int sleeping;                /* atomic: the thread is (about to be) blocked in poll */
  uint32_t flush_req;          /* atomic: flush() calls so far (JS), answered by RS_SENT_FLUSH records */
};

struct rs_sub {
  uint32_t count, cookie;
  uint32_t rec[BATCH * RS_SEND_REC_WORDS]; /* offsets into data; address index = record number */
  uint8_t addrs[BATCH * RS_ADDR_BYTES];
  uint8_t data[RS_SUB_DATA];
};


uint8_t *rs_ring_record(struct rs_recv *r, uint32_t seq);
uint32_t rs_ring_wait_free(struct rs_recv *r, uint32_t head);
void rs_ring_fail(struct rs_recv *r, int err);
void *rs_send_main(void *arg);

#endif
