/* Shared declarations of the rawsock addon: one struct per socket, and the helpers the other
 * translation units use. The addon is a thin syscall layer: it opens raw sockets, attaches classic
 * BPF, moves batches of packets with sendmsg/recvmmsg plus kernel timestamps, either called from JS
 * (woken through uv_poll) or on a thread per socket that shares a ring with JS (recv.c, send.c). It
 * knows no protocol: packets are opaque bytes built and parsed in TypeScript. */
#ifndef NETPROBIFY_RAWSOCK_H
#define NETPROBIFY_RAWSOCK_H

#define NAPI_VERSION 8
#include <node_api.h>
#include <stdint.h>
#include <uv.h>

/* open() flags, mirrored in src/native/rawsock.ts */
#define RS_HDRINCL 1u            /* we write the IP header (IP_HDRINCL / IPV6_HDRINCL) */
#define RS_TX_TIMESTAMPS 2u      /* TX_SOFTWARE | OPT_ID | OPT_TSONLY, read from the error queue */
#define RS_RX_TIMESTAMPS 4u      /* RX_SOFTWARE, delivered as SCM_TIMESTAMPING per packet */
#define RS_NO_SELECT_ERR_QUEUE 8u /* test only: leave SO_SELECT_ERR_QUEUE off to show the libuv failure */
#define RS_RECVERR 16u           /* IP_RECVERR / IPV6_RECVERR: local refusals (a full qdisc: ENOBUFS) fail the send */
#define RS_FORCE_COUNTER_IDS 32u /* test only: number TX timestamps with the kernel's counter, as before Linux 6.13 */
#define RS_SLOW_SEND_REPORT 64u  /* test only: the send thread waits 5 ms between a batch's sends and its report */
#define RS_STALL_SEND_ONCE 128u  /* test only: the send thread stalls 100 ms once, after its first batch's sends */

/* Layout constants (32-bit words), mirrored in src/native/rawsock.ts */
#define RS_SEND_REC_WORDS 4 /* offset, length, address index, IPv6 scope id */
#define RS_SEND_RES_WORDS 2 /* errno (0 = sent), TX timestamp id */
#define RS_RECV_META_WORDS 8 /* length, flags, ts sec, ts nsec, source address (16 bytes) */
#define RS_TXTS_WORDS 4     /* id, flags, ts sec, ts nsec */
#define RS_ADDR_BYTES 16

#define RS_META_HAS_TS 1u
#define RS_META_TRUNC 2u
#define RS_META_V6 4u
/* IPv6 sockets (IPV6_RECVHOPLIMIT): the reply's hop limit is in bits 8-15 of the flags word. IPv4
 * sockets deliver the IP header, whose TTL the caller reads itself. */
#define RS_META_HAS_HOPLIMIT 8u
#define RS_META_HOPLIMIT_SHIFT 8

#define RS_MAX_BATCH 1024
#define RS_RX_CTRL_LEN 256 /* control-message room per received packet */

/* Receive threads (recv.c): what a socket's thread reads, and the ring's header (32-bit words; the
 * producer's and the consumer's index on their own cache lines). Mirrored in src/native/ring.ts. */
#define RS_RECV_PACKETS 0u  /* records: RS_RECV_META_WORDS of metadata, then the packet's slot */
#define RS_RECV_ERRQUEUE 1u /* records: RS_TXTS_WORDS, one TX timestamp each */
#define RS_RECV_SEND 2u     /* the thread sends submitted batches; records: RS_SENT_WORDS (send.c) */
#define RS_SENT_WORDS 6
#define RS_SENT_RESULT 1u /* [type, cookie, index in batch, errno, TX id, 0] */
#define RS_SENT_TXTS 2u   /* [type, id, flags, sec, nsec, 0] */
#define RS_SENT_FLUSH 3u  /* [type, flush number, 0, 0, 0, 0]: after every TX timestamp queued before that flush() */
#define RS_RING_HEADER_BYTES 256
#define RS_RING_HEAD 0        /* records written (u32, wraps): the thread's */
#define RS_RING_TAIL 16       /* records consumed (u32, wraps): JS's */
#define RS_RING_SLOTS 32      /* records the ring holds (a power of two) */
#define RS_RING_STRIDE 33     /* bytes from one record to the next */
#define RS_RING_META_WORDS 34 /* metadata words at the start of each record */
#define RS_RING_FULL_WAITS 35 /* times the thread found the ring full and waited for JS */
#define RS_RING_ERRNO 36      /* errno the thread stopped on (0: running or stopped cleanly) */ /* UIO_MAXIOV: the kernel's cap on one sendmmsg/recvmmsg call */
#define RS_RING_SHIFT_US 37   /* send thread: how far stalls pushed its schedule back (send.c), us; JS zeroes it for a new schedule */

/* The receive barrier (recv.c): its header word, and its test-only open flag. */
#define RS_RING_FLUSHED 38   /* packets: the last receive barrier answered (every packet queued before that flush() precedes it) */
#define RS_SLOW_RECEIVE 256u /* test only: the receive thread waits 2 s before each read (a barrier or stop ends the wait) */

/* How TX timestamp ids are assigned: by the kernel's per-socket counter, or by us per packet
 * (SCM_TS_OPT_ID, Linux >= 6.13), which keeps ids exact even when a send fails after the kernel
 * already counted the packet. */
enum rs_id_mode { RS_ID_UNKNOWN = 0, RS_ID_EXPLICIT = 1, RS_ID_COUNTER = 2 };

typedef struct rs_poll rs_poll;
struct rs_recv;

typedef struct rs_sock {
  int fd; /* -1 once closed */
  int family; /* 4 or 6 */
  int protocol;
  uint32_t flags;
  uint32_t next_tx_id;
  enum rs_id_mode id_mode;
  uint32_t clean_sends; /* packets sent one by one since the last EPERM/ENOBUFS (io.c: sendmmsg runs) */
  uint32_t rx_drops; /* last SO_RXQ_OVFL value seen (written by a receive thread too: atomics) */
  uint32_t errq_other; /* error-queue entries consumed that were not TX timestamps (local errors, ICMP) */
  uint32_t stale_errors; /* pending socket errors (sk_err) cleared so they fail no later send/recv */
  napi_env env;
  napi_ref self_ref; /* strong while polling, so the poll handle never points at a collected object */
  napi_ref cb_ref;
  napi_async_context async_ctx;
  rs_poll *poll; /* separately allocated: it outlives the socket until uv_close's callback */
  struct rs_recv *recv; /* the receive thread, if started (recv.c) */
  /* scratch for batches, grown on demand, freed on close */
  void *scratch;
  size_t scratch_len;
} rs_sock;

struct rs_poll {
  uv_poll_t handle;
  rs_sock *sock; /* NULL once the socket let go of it */
};

/* util.c */
napi_value rs_throw_errno(napi_env env, int err, const char *syscall);
napi_value rs_throw_type(napi_env env, const char *msg);
int rs_get_u32(napi_env env, napi_value v, uint32_t *out, const char *name);
int rs_get_bytes(napi_env env, napi_value v, uint8_t **data, size_t *len, const char *name);
int rs_get_u32_array(napi_env env, napi_value v, uint32_t **data, size_t *len, const char *name);
void *rs_scratch(rs_sock *s, size_t len);
napi_value rs_u32(napi_env env, uint32_t v);
napi_value rs_undefined(napi_env env);

/* io.c */
napi_value rs_send_batch(napi_env env, rs_sock *s, napi_value *argv);
napi_value rs_recv_batch(napi_env env, rs_sock *s, napi_value *argv);
napi_value rs_read_tx_timestamps(napi_env env, rs_sock *s, napi_value *argv);
struct msghdr;
struct sockaddr_in6;
void rs_rx_meta(rs_sock *s, struct msghdr *m, uint32_t msg_len, const struct sockaddr_in6 *sa, uint32_t slot,
                uint32_t *o);
int rs_errq_entry(rs_sock *s, struct msghdr *m, uint32_t *o);
int rs_is_socket_error(int e);
void rs_clear_stale_error(rs_sock *s);

uint32_t rs_send_records(rs_sock *s, uint8_t *data, const uint32_t *rec, const uint8_t *addrs, uint32_t count,
                         uint32_t *res);

/* send.c */
napi_value rs_submit(napi_env env, rs_sock *s, napi_value *argv);
napi_value rs_flush(napi_env env, rs_sock *s);

/* recv.c */
int rs_sending(rs_sock *s);
napi_value rs_recv_start(napi_env env, rs_sock *s, napi_value self, napi_value *argv);
void rs_recv_stop(rs_sock *s);

/* route.c */
napi_value rs_route_sources(napi_env env, napi_callback_info info);

/* poll.c */
napi_value rs_poll_start(napi_env env, rs_sock *s, napi_value self, napi_value cb);
void rs_poll_stop(rs_sock *s);
void rs_poll_release(rs_sock *s);

#endif
