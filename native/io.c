/* The batched data path: caller-packed packets sent in one call (sendmmsg runs, then a sendmsg per
 * packet after a refusal, so every refusal keeps its own errno: never a silent drop), recvmmsg into fixed-size slots with per-packet metadata
 * written into a Uint32Array (no JS object per packet), and TX timestamps read from the error queue
 * in batches. Layouts are described in docs/native.md and mirrored by constants in
 * src/native/rawsock.ts. */
#define _GNU_SOURCE
#include <errno.h>
#include <time.h> /* before linux/errqueue.h, which uses struct timespec */
#include <linux/errqueue.h>
#include <linux/net_tstamp.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "rawsock.h"

#ifndef SCM_TS_OPT_ID
#define SCM_TS_OPT_ID 81 /* include/uapi/asm-generic/socket.h, Linux >= 6.13 */
#endif

#define ID_CTRL_LEN CMSG_SPACE(sizeof(uint32_t))

static napi_value throw_range(napi_env env, const char *msg) {
  napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
  return NULL;
}

/* Fills msg for record r. */
static void fill_msg(rs_sock *s, struct msghdr *m, struct iovec *iov, struct sockaddr_in6 *sa, uint8_t *ctrl,
                     const uint32_t *r, uint8_t *data, const uint8_t *addrs, int with_id, uint32_t id) {
  iov->iov_base = data + r[0];
  iov->iov_len = r[1];
  memset(m, 0, sizeof *m);
  m->msg_iov = iov;
  m->msg_iovlen = 1;
  m->msg_name = sa;
  memset(sa, 0, sizeof *sa);
  if (s->family == 4) {
    struct sockaddr_in *a4 = (struct sockaddr_in *)sa;
    a4->sin_family = AF_INET;
    memcpy(&a4->sin_addr, addrs + (size_t)r[2] * RS_ADDR_BYTES, 4);
    m->msg_namelen = sizeof *a4;
  } else {
    sa->sin6_family = AF_INET6;
    memcpy(&sa->sin6_addr, addrs + (size_t)r[2] * RS_ADDR_BYTES, 16);
    sa->sin6_scope_id = r[3];
    m->msg_namelen = sizeof *sa;
  }
  if (with_id) {
    m->msg_control = ctrl;
    m->msg_controllen = ID_CTRL_LEN;
    struct cmsghdr *cm = CMSG_FIRSTHDR(m);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_TS_OPT_ID;
    cm->cmsg_len = CMSG_LEN(sizeof(uint32_t));
    memcpy(CMSG_DATA(cm), &id, sizeof id);
  }
}

/* One sendmsg, retried on EINTR. Returns the packet's errno (0 = sent). */
static int send_one(rs_sock *s, const struct msghdr *m) {
  for (;;) {
    if (sendmsg(s->fd, m, MSG_DONTWAIT) >= 0) return 0;
    if (errno != EINTR) return errno;
  }
}

/* Counter mode: did the kernel number this refused packet? raw_send_hdrinc (and its IPv6 twin)
 * assigns the id once the packet is built, before netfilter (EPERM) and the qdisc (ENOBUFS) see it;
 * routing (ENETUNREACH, EHOSTUNREACH, EACCES, EINVAL), the MTU check (EMSGSIZE) and a full send
 * buffer (EAGAIN) fail before. ENOBUFS can also be an allocation failure before numbering (memory
 * pressure): later ids are then one off, and a probe gets the next one's TX time. Explicit ids
 * (Linux >= 6.13) have no such guess, which is why they are used whenever the kernel has them. */
static int numbered_before_failing(int e) { return e == ENOBUFS || e == EPERM; }

/* The first packet on a TX-timestamping socket learns whether the kernel takes SCM_TS_OPT_ID:
 * EINVAL with it and success without means it does not, and the kernel's own counter (0 so far,
 * as nothing was sent) numbers the packets. Returns the packet's errno (0 = sent). */
static int probe_id_mode(rs_sock *s, struct msghdr *m) {
  int e = send_one(s, m);
  if (e == 0) s->id_mode = RS_ID_EXPLICIT;
  if (e != EINVAL) return e;
  struct msghdr plain = *m;
  plain.msg_control = NULL;
  plain.msg_controllen = 0;
  e = send_one(s, &plain);
  if (e == 0 || numbered_before_failing(e)) {
    s->id_mode = RS_ID_COUNTER;
    s->next_tx_id = e == 0 ? 0 : 1; /* the caller counts a sent packet; a refused one took id 0 */
  }
  return e;
}

/* A pending socket error (sk_err: an ICMP error on a RECVERR socket whose protocol the error quotes,
 * or set again when the error queue is read and an ICMP error is next) would make the next send fail
 * with it before the packet is even built, and the next receive too. Reading SO_ERROR clears it. */
void rs_clear_stale_error(rs_sock *s) {
  int e = 0;
  socklen_t l = sizeof e;
  if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &e, &l) == 0 && e != 0) __atomic_fetch_add(&s->stale_errors, 1, __ATOMIC_RELAXED);
}

/* Errnos an ICMP error leaves in sk_err (icmp_err_convert, time exceeded, parameter problem). A send
 * failing with one of them on a RECVERR socket may have failed on an earlier packet's error, which
 * arrives between two sends (on loopback, during the send that caused it); a failure with one of them
 * happens before netfilter and the qdisc, so trying the packet once more has no side effect. */
static int may_be_stale(int e) {
  switch (e) {
    case ECONNREFUSED: case EHOSTUNREACH: case ENETUNREACH: case EPROTO: case EMSGSIZE:
    case ENOPROTOOPT: case EOPNOTSUPP: case EHOSTDOWN: case ENONET:
      return 1;
    default:
      return 0;
  }
}

/* One packet's send: its errno (0 = sent). Once more after a possibly stale socket error. */
static int send_packet(rs_sock *s, const struct msghdr *m) {
  int e = send_one(s, m);
  if (e == 0 || !(s->flags & RS_RECVERR) || !may_be_stale(e)) return e;
  int again = send_one(s, m);
  if (again == 0) __atomic_fetch_add(&s->stale_errors, 1, __ATOMIC_RELAXED);
  return again;
}

/* args: data, records, addresses, first, count, results.
 * Every refused packet reports its own errno and the next one is tried after it (rs_send_records). */
napi_value rs_send_batch(napi_env env, rs_sock *s, napi_value *argv) {
  uint8_t *data, *addrs;
  size_t data_len, addrs_len, rec_len, res_len;
  uint32_t *rec, *res, first, count;
  if (rs_get_bytes(env, argv[0], &data, &data_len, "data") ||
      rs_get_u32_array(env, argv[1], &rec, &rec_len, "records") ||
      rs_get_bytes(env, argv[2], &addrs, &addrs_len, "addresses") || rs_get_u32(env, argv[3], &first, "first") ||
      rs_get_u32(env, argv[4], &count, "count") || rs_get_u32_array(env, argv[5], &res, &res_len, "results"))
    return NULL;
  if (s->fd < 0) return rs_throw_errno(env, EBADF, "sendmsg");
  if ((uint64_t)first + count > rec_len / RS_SEND_REC_WORDS) return throw_range(env, "first + count exceeds records");
  if ((uint64_t)count * RS_SEND_RES_WORDS > res_len) return throw_range(env, "results too small for count");
  /* Check every record before anything is sent: memory safety does not depend on the TS layer. */
  for (uint32_t k = 0; k < count; k++) {
    const uint32_t *r = rec + (size_t)(first + k) * RS_SEND_REC_WORDS;
    if ((uint64_t)r[0] + r[1] > data_len || r[1] == 0) return throw_range(env, "record packet outside data");
    if (((uint64_t)r[2] + 1) * RS_ADDR_BYTES > addrs_len) return throw_range(env, "record address outside addresses");
  }
  if (rs_sending(s)) return rs_throw_errno(env, EBUSY, "sendmsg"); /* its thread sends (send.c) */
  return rs_u32(env, rs_send_records(s, data, rec + (size_t)first * RS_SEND_REC_WORDS, addrs, count, res));
}

#define RUN 64 /* packets per sendmmsg */
/* Packets a socket sends one sendmsg each, with no EPERM or ENOBUFS, before it sends in runs. */
#define RUNS_AFTER 256

/* Refusals with side effects: the firewall (EPERM) or the qdisc (ENOBUFS) saw and counted the packet. */
static int counted_refusal(int e) { return e == EPERM || e == ENOBUFS; }

/* Sends records k.. in runs of one sendmmsg each, writes their results, adds the packets sent to
 * *sent and returns the first record it did not take. It stops at the first refusal: sendmmsg returns the
 * errno of a run's first packet (-1: that packet's result, taken) but forgets that of any later one
 * (measured: SO_ERROR stays 0), so the caller sends the rest one sendmsg each, from the packet the run
 * stopped at. That packet is thus tried twice (its errno is the second try's; the first try's id is a
 * hole); every later refusal keeps its own errno at its only try. A first packet's possibly stale
 * error (may_be_stale) is left to the caller, which tries that packet once more as send_packet does.
 * Explicit ids only: with the kernel's counter a refused try can take an id (see above). So that the
 * firewall and the qdisc see each refused packet once, a socket sends in runs only after RUNS_AFTER
 * packets in a row went one by one without EPERM or ENOBUFS, and goes back to one by one at the
 * first of them: only that one packet, after a clean stretch, is tried twice. */
static uint32_t send_runs(rs_sock *s, uint8_t *data, const uint32_t *rec, const uint8_t *addrs, uint32_t k,
                          uint32_t count, uint32_t *res, uint32_t *sent, uint32_t *stopped) {
  const int ts = (s->flags & RS_TX_TIMESTAMPS) != 0;
  struct mmsghdr mm[RUN];
  struct iovec iov[RUN];
  struct sockaddr_in6 sa[RUN];
  union {
    struct cmsghdr align;
    uint8_t buf[ID_CTRL_LEN];
  } ctrl[RUN];
  while (k < count) {
    uint32_t c = count - k < RUN ? count - k : RUN;
    for (uint32_t j = 0; j < c; j++) {
      uint32_t id = ts ? s->next_tx_id++ : 0;
      memset(&ctrl[j], 0, sizeof ctrl[j]);
      fill_msg(s, &mm[j].msg_hdr, &iov[j], &sa[j], ctrl[j].buf, rec + (size_t)(k + j) * RS_SEND_REC_WORDS, data,
               addrs, ts, id);
      res[(size_t)(k + j) * RS_SEND_RES_WORDS + 1] = id;
    }
    int n;
    do n = sendmmsg(s->fd, mm, c, MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n < 0 && !((s->flags & RS_RECVERR) && may_be_stale(errno))) {
      if (counted_refusal(errno)) s->clean_sends = 0;
      res[(size_t)k * RS_SEND_RES_WORDS] = (uint32_t)errno;
      res[(size_t)k * RS_SEND_RES_WORDS + 1] = 0;
      return k + 1;
    }
    uint32_t went = n > 0 ? (uint32_t)n : 0;
    for (uint32_t j = 0; j < went; j++) res[(size_t)(k + j) * RS_SEND_RES_WORDS] = 0;
    *sent += went;
    k += went;
    if (went < c) {
      if (n >= 0) *stopped = k; /* its errno unknown: the caller tries it again */
      return k;
    }
  }
  return k;
}

/* Sends count records (no argument checks: the caller did them) and writes a result per record;
 * returns how many were sent. Used by sendBatch() and by the send thread. With explicit ids (or no
 * TX timestamps), once the socket's clean stretch is long enough, runs of packets go out in one
 * sendmmsg each (send_runs: in the daemon bench, 1.2 us less kernel time per probe than a sendmsg
 * each), the rest of the call after a refusal one sendmsg each. */
uint32_t rs_send_records(rs_sock *s, uint8_t *data, const uint32_t *rec, const uint8_t *addrs, uint32_t count,
                         uint32_t *res) {
  if (s->flags & RS_RECVERR) rs_clear_stale_error(s);
  const int ts = (s->flags & RS_TX_TIMESTAMPS) != 0;
  struct msghdr m;
  struct iovec iov;
  struct sockaddr_in6 sa;
  union {
    struct cmsghdr align;
    uint8_t buf[ID_CTRL_LEN];
  } ctrl;
  uint32_t sent = 0, k = 0, stopped = UINT32_MAX;
  int runs = 1; /* until the first refusal (the first packet may have to learn the id mode first) */
  for (; k < count; k++) {
    if (runs && (!ts || s->id_mode == RS_ID_EXPLICIT) && s->clean_sends >= RUNS_AFTER) {
      runs = 0;
      uint32_t from = k;
      k = send_runs(s, data, rec, addrs, k, count, res, &sent, &stopped);
      uint32_t last = k > from ? res[(size_t)(k - 1) * RS_SEND_RES_WORDS] : 0;
      if (last == EAGAIN || last == EWOULDBLOCK) goto rest_eagain;
      if (k == count) break;
    }
    const uint32_t *r = rec + (size_t)k * RS_SEND_REC_WORDS;
    uint32_t *o = res + (size_t)k * RS_SEND_RES_WORDS;
    int e;
    uint32_t id = 0;
    memset(&ctrl, 0, sizeof ctrl);
    if (ts && s->id_mode == RS_ID_UNKNOWN) {
      fill_msg(s, &m, &iov, &sa, ctrl.buf, r, data, addrs, 1, s->next_tx_id);
      e = probe_id_mode(s, &m);
      if (e == 0) id = s->next_tx_id++;
    } else if (ts && s->id_mode == RS_ID_EXPLICIT) {
      /* our own id per attempt: a refused packet leaves a hole, never a shift */
      id = s->next_tx_id++;
      fill_msg(s, &m, &iov, &sa, ctrl.buf, r, data, addrs, 1, id);
      e = send_packet(s, &m);
    } else {
      fill_msg(s, &m, &iov, &sa, ctrl.buf, r, data, addrs, 0, 0);
      e = send_packet(s, &m);
      /* counter mode: the kernel numbers the packets it built, in order */
      if (ts && (e == 0 || numbered_before_failing(e))) id = s->next_tx_id++;
    }
    o[0] = (uint32_t)e;
    o[1] = e == 0 ? id : 0;
    if (e == 0) sent++;
    /* sent at the second try after a run stopped on it: most likely a qdisc that had been full */
    if (counted_refusal(e) || (k == stopped && e == 0)) s->clean_sends = 0;
    else if (e == 0 && s->clean_sends < RUNS_AFTER) s->clean_sends++;
    if (e == EAGAIN || e == EWOULDBLOCK) {
      k++;
      goto rest_eagain;
    }
  }
  return sent;

rest_eagain:
  /* The send buffer is full: every remaining packet would fail the same way; report each. */
  for (; k < count; k++) {
    res[(size_t)k * RS_SEND_RES_WORDS] = EAGAIN;
    res[(size_t)k * RS_SEND_RES_WORDS + 1] = 0;
  }
  return sent;
}

/* Errors a read reports from sk_err (set asynchronously by ICMP errors or an earlier recvmmsg), as
 * opposed to errors about the call itself. */
int rs_is_socket_error(int e) {
  return e != EBADF && e != EFAULT && e != EINVAL && e != ENOTSOCK && e != ENOMEM && e != EOPNOTSUPP;
}

static void read_ts(struct cmsghdr *cm, uint32_t *sec, uint32_t *nsec) {
  struct scm_timestamping st;
  memcpy(&st, CMSG_DATA(cm), sizeof st);
  *sec = (uint32_t)st.ts[0].tv_sec;
  *nsec = (uint32_t)st.ts[0].tv_nsec;
}

/* An IPV6_HOPLIMIT cmsg (IPV6_RECVHOPLIMIT) as metadata flag bits: the hop limit the reply arrived
 * with, in bits 8-15, and RS_META_HAS_HOPLIMIT. */
static uint32_t hop_limit_flags(struct cmsghdr *cm) {
  int hl;
  memcpy(&hl, CMSG_DATA(cm), sizeof hl);
  if (hl < 0 || hl > 255) return 0;
  return RS_META_HAS_HOPLIMIT | ((uint32_t)hl << RS_META_HOPLIMIT_SHIFT);
}

/* One received packet's metadata record (RS_RECV_META_WORDS words at o), from its msghdr: length
 * (capped at the slot), flags, the kernel RX timestamp and the source address. recvBatch() and the
 * receive thread (recv.c) both write records through here, so the layout has one definition. */
void rs_rx_meta(rs_sock *s, struct msghdr *m, uint32_t msg_len, const struct sockaddr_in6 *sa, uint32_t slot,
                uint32_t *o) {
  uint32_t len = msg_len, flags = 0;
  if (len > slot || (m->msg_flags & MSG_TRUNC)) {
    flags |= RS_META_TRUNC;
    if (len > slot) len = slot;
  }
  o[2] = o[3] = 0;
  for (struct cmsghdr *cm = CMSG_FIRSTHDR(m); cm != NULL; cm = CMSG_NXTHDR(m, cm)) {
    if (cm->cmsg_level == SOL_IPV6 && cm->cmsg_type == IPV6_HOPLIMIT) flags |= hop_limit_flags(cm);
    if (cm->cmsg_level != SOL_SOCKET) continue;
    if (cm->cmsg_type == SCM_TIMESTAMPING) {
      read_ts(cm, &o[2], &o[3]);
      if (o[2] != 0 || o[3] != 0) flags |= RS_META_HAS_TS;
    } else if (cm->cmsg_type == SO_RXQ_OVFL) {
      uint32_t d;
      memcpy(&d, CMSG_DATA(cm), sizeof d);
      __atomic_store_n(&s->rx_drops, d, __ATOMIC_RELAXED);
    }
  }
  uint8_t *addr = (uint8_t *)(o + 4);
  memset(addr, 0, RS_ADDR_BYTES);
  if (sa->sin6_family == AF_INET6) {
    memcpy(addr, &sa->sin6_addr, 16);
    flags |= RS_META_V6;
  } else if (sa->sin6_family == AF_INET) {
    memcpy(addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
  }
  o[0] = len;
  o[1] = flags;
}

/* args: data, slotSize, maxCount, meta. Returns the number of packets received (0: none waiting). */
napi_value rs_recv_batch(napi_env env, rs_sock *s, napi_value *argv) {
  uint8_t *data;
  size_t data_len, meta_len;
  uint32_t *meta, slot, max;
  if (rs_get_bytes(env, argv[0], &data, &data_len, "data") || rs_get_u32(env, argv[1], &slot, "slotSize") ||
      rs_get_u32(env, argv[2], &max, "maxCount") || rs_get_u32_array(env, argv[3], &meta, &meta_len, "meta"))
    return NULL;
  if (s->fd < 0) return rs_throw_errno(env, EBADF, "recvmmsg");
  if (slot == 0 || (uint64_t)slot * max > data_len) return throw_range(env, "slotSize * maxCount exceeds data");
  if ((uint64_t)max * RS_RECV_META_WORDS > meta_len) return throw_range(env, "meta too small for maxCount");
  if (max > RS_MAX_BATCH) max = RS_MAX_BATCH;
  if (max == 0) return rs_u32(env, 0);
  size_t per = sizeof(struct mmsghdr) + sizeof(struct iovec) + sizeof(struct sockaddr_in6) + RS_RX_CTRL_LEN;
  uint8_t *mem = rs_scratch(s, per * max);
  if (mem == NULL) return rs_throw_errno(env, ENOMEM, "recvmmsg");
  struct mmsghdr *msgs = (struct mmsghdr *)mem;
  struct iovec *iov = (struct iovec *)(msgs + max);
  struct sockaddr_in6 *sa = (struct sockaddr_in6 *)(iov + max);
  uint8_t *ctrl = (uint8_t *)(sa + max);
  for (uint32_t i = 0; i < max; i++) {
    iov[i].iov_base = data + (size_t)i * slot;
    iov[i].iov_len = slot;
    struct msghdr *m = &msgs[i].msg_hdr;
    m->msg_iov = &iov[i];
    m->msg_iovlen = 1;
    m->msg_name = &sa[i];
    m->msg_namelen = sizeof sa[i];
    m->msg_control = ctrl + (size_t)i * RS_RX_CTRL_LEN;
    m->msg_controllen = RS_RX_CTRL_LEN;
  }
  int r, stale = 0;
  for (;;) {
    r = recvmmsg(s->fd, msgs, max, MSG_DONTWAIT | MSG_TRUNC, NULL);
    if (r >= 0 || errno == EINTR) {
      if (r >= 0) break;
      continue;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) return rs_u32(env, 0);
    /* A pending socket error is returned (and cleared) instead of the packets waiting: it belongs to
     * an earlier packet, not to this read. Count it and read again; a real failure repeats. */
    if (!rs_is_socket_error(errno) || ++stale > 4) return rs_throw_errno(env, errno, "recvmmsg");
    __atomic_fetch_add(&s->stale_errors, 1, __ATOMIC_RELAXED);
  }
  for (int i = 0; i < r; i++)
    rs_rx_meta(s, &msgs[i].msg_hdr, msgs[i].msg_len, &sa[i], slot, meta + (size_t)i * RS_RECV_META_WORDS);
  return rs_u32(env, (uint32_t)r);
}

/* One error-queue message: a TX timestamp is written as (id, flags, sec, nsec) at o and 1 returned;
 * anything else (with IP_RECVERR: a local error, an ICMP error quoting our protocol) is counted in
 * errq_other and 0 returned. Shared by readTxTimestamps() and the error-queue thread (recv.c). */
int rs_errq_entry(rs_sock *s, struct msghdr *m, uint32_t *o) {
  uint32_t sec = 0, nsec = 0, id = 0;
  int is_ts = 0, has_ts = 0;
  for (struct cmsghdr *cm = CMSG_FIRSTHDR(m); cm != NULL; cm = CMSG_NXTHDR(m, cm)) {
    if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPING) {
      read_ts(cm, &sec, &nsec);
      has_ts = sec != 0 || nsec != 0;
    } else if ((cm->cmsg_level == SOL_IP && cm->cmsg_type == IP_RECVERR) ||
               (cm->cmsg_level == SOL_IPV6 && cm->cmsg_type == IPV6_RECVERR)) {
      struct sock_extended_err ee;
      memcpy(&ee, CMSG_DATA(cm), sizeof ee);
      if (ee.ee_origin == SO_EE_ORIGIN_TIMESTAMPING && ee.ee_info == SCM_TSTAMP_SND) {
        is_ts = 1;
        id = ee.ee_data;
      }
    }
  }
  if (!is_ts) {
    __atomic_fetch_add(&s->errq_other, 1, __ATOMIC_RELAXED);
    return 0;
  }
  o[0] = id;
  o[1] = has_ts ? RS_META_HAS_TS : 0;
  o[2] = sec;
  o[3] = nsec;
  return 1;
}

/* args: out, maxCount. Reads TX timestamps from the error queue: (id, flags, sec, nsec) per entry.
 * Entries that are not timestamps (with IP_RECVERR: local errors such as EMSGSIZE, and ICMP errors
 * on a socket whose protocol they quote) are consumed, counted in errq_other and skipped: ids come
 * from each timestamp's own ee_data, so skipping shifts nothing. Reading on past a batch of only such
 * entries keeps "0 = nothing waits" true. */
napi_value rs_read_tx_timestamps(napi_env env, rs_sock *s, napi_value *argv) {
  uint32_t *out, max;
  size_t out_len;
  if (rs_get_u32_array(env, argv[0], &out, &out_len, "out") || rs_get_u32(env, argv[1], &max, "maxCount"))
    return NULL;
  if (s->fd < 0) return rs_throw_errno(env, EBADF, "recvmmsg");
  if ((uint64_t)max * RS_TXTS_WORDS > out_len) return throw_range(env, "out too small for maxCount");
  if (max > RS_MAX_BATCH) max = RS_MAX_BATCH;
  if (max == 0) return rs_u32(env, 0);
  size_t per = sizeof(struct mmsghdr) + sizeof(struct iovec) + 64 + RS_RX_CTRL_LEN;
  uint8_t *mem = rs_scratch(s, per * max);
  if (mem == NULL) return rs_throw_errno(env, ENOMEM, "recvmmsg");
  struct mmsghdr *msgs = (struct mmsghdr *)mem;
  struct iovec *iov = (struct iovec *)(msgs + max);
  uint8_t *payload = (uint8_t *)(iov + max);
  uint8_t *ctrl = payload + (size_t)64 * max;
  uint32_t n = 0;
  int r, had_other = 0;
again:
  for (uint32_t i = 0; i < max; i++) { /* (again) the kernel rewrote the lengths */
    iov[i].iov_base = payload + (size_t)i * 64;
    iov[i].iov_len = 64;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_control = ctrl + (size_t)i * RS_RX_CTRL_LEN;
    msgs[i].msg_hdr.msg_controllen = RS_RX_CTRL_LEN;
    msgs[i].msg_hdr.msg_flags = 0;
  }
  do r = recvmmsg(s->fd, msgs, max, MSG_ERRQUEUE | MSG_DONTWAIT, NULL);
  while (r < 0 && errno == EINTR);
  if (r < 0) {
    int e = errno;
    if (had_other && (s->flags & RS_RECVERR)) rs_clear_stale_error(s);
    if (e == EAGAIN || e == EWOULDBLOCK) return rs_u32(env, 0);
    return rs_throw_errno(env, e, "recvmmsg");
  }
  for (int i = 0; i < r; i++) {
    if (rs_errq_entry(s, &msgs[i].msg_hdr, out + (size_t)n * RS_TXTS_WORDS)) n++;
    else had_other = 1;
  }
  if (n == 0 && r > 0) goto again;
  /* dequeuing sets sk_err when an ICMP error is next in the queue: do not let it fail a send */
  if (had_other && (s->flags & RS_RECVERR)) rs_clear_stale_error(s);
  return rs_u32(env, n);
}
