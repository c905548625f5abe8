/* The addon's entry point: the RawSocket class (open, options, filter, close, finalizer) and the
 * exported constants. Opening enables everything a socket will need up front — timestamping in
 * particular, because the kernel switches it on lazily and the first packets after enabling it may
 * carry no timestamp. Closing is explicit and idempotent; the finalizer is only a safety net. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/net_tstamp.h>
#include <linux/sock_diag.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rawsock.h"

#ifndef IPV6_HDRINCL
#define IPV6_HDRINCL 36
#endif

static int setint(int fd, int level, int opt, int v) { return setsockopt(fd, level, opt, &v, sizeof v); }

static void sock_close(rs_sock *s) {
  rs_recv_stop(s); /* joins the thread before its fd goes */
  rs_poll_release(s);
  if (s->fd >= 0) {
    close(s->fd);
    s->fd = -1;
  }
  free(s->scratch);
  s->scratch = NULL;
  s->scratch_len = 0;
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  rs_sock *s = data;
  sock_close(s);
  free(s);
}

/* Returns errno of the failing step and sets *what to its name, or 0. */
static int configure(int fd, int family, uint32_t flags, const char *device, const char **what) {
  if (flags & RS_HDRINCL) {
    *what = "setsockopt(IP_HDRINCL)";
    if (family == 4 ? setint(fd, IPPROTO_IP, IP_HDRINCL, 1) : setint(fd, IPPROTO_IPV6, IPV6_HDRINCL, 1)) return errno;
  }
  if (device != NULL && device[0] != '\0') {
    *what = "setsockopt(SO_BINDTODEVICE)";
    if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, device, (socklen_t)strlen(device) + 1)) return errno;
  }
  int ts = 0;
  if (flags & RS_TX_TIMESTAMPS)
    ts |= SOF_TIMESTAMPING_TX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_OPT_ID |
          SOF_TIMESTAMPING_OPT_TSONLY;
  if (flags & RS_RX_TIMESTAMPS) ts |= SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE;
  if (ts) {
    *what = "setsockopt(SO_TIMESTAMPING)";
    if (setint(fd, SOL_SOCKET, SO_TIMESTAMPING, ts)) return errno;
  }
  if ((flags & RS_TX_TIMESTAMPS) && !(flags & RS_NO_SELECT_ERR_QUEUE)) {
    *what = "setsockopt(SO_SELECT_ERR_QUEUE)";
    if (setint(fd, SOL_SOCKET, SO_SELECT_ERR_QUEUE, 1)) return errno;
  }
  if (flags & RS_RECVERR) {
    /* Without it the kernel hides ENOBUFS from raw sockets (raw_send_hdrinc turns it into success):
     * a packet the qdisc dropped would look sent, and then lost. */
    *what = family == 4 ? "setsockopt(IP_RECVERR)" : "setsockopt(IPV6_RECVERR)";
    if (family == 4 ? setint(fd, IPPROTO_IP, IP_RECVERR, 1) : setint(fd, IPPROTO_IPV6, IPV6_RECVERR, 1)) return errno;
  }
  if (family == 6) {
    /* IPv6 raw sockets deliver no IP header: the hop limit comes as an IPV6_HOPLIMIT cmsg */
    *what = "setsockopt(IPV6_RECVHOPLIMIT)";
    if (setint(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1)) return errno;
  }
  *what = "setsockopt(SO_RXQ_OVFL)";
  if (setint(fd, SOL_SOCKET, SO_RXQ_OVFL, 1)) return errno;
  return 0;
}

/* new RawSocket(family 4|6, protocol 0..255, flags, device string or null) */
static napi_value ctor(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4], self;
  napi_get_cb_info(env, info, &argc, argv, &self, NULL);
  uint32_t family, protocol, flags;
  if (argc < 4) return rs_throw_type(env, "RawSocket(family, protocol, flags, device)");
  if (rs_get_u32(env, argv[0], &family, "family") || rs_get_u32(env, argv[1], &protocol, "protocol") ||
      rs_get_u32(env, argv[2], &flags, "flags"))
    return NULL;
  if (family != 4 && family != 6) return rs_throw_type(env, "family must be 4 or 6");
  if (protocol > 255) return rs_throw_type(env, "protocol must be in [0, 255]");
  char device[IFNAMSIZ] = {0};
  napi_valuetype vt;
  napi_typeof(env, argv[3], &vt);
  if (vt == napi_string) {
    size_t n;
    napi_get_value_string_utf8(env, argv[3], NULL, 0, &n);
    if (n == 0 || n >= IFNAMSIZ) return rs_throw_type(env, "device must be 1-15 bytes");
    napi_get_value_string_utf8(env, argv[3], device, sizeof device, &n);
  } else if (vt != napi_null && vt != napi_undefined) {
    return rs_throw_type(env, "device must be a string or null");
  }
  int fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, (int)protocol);
  if (fd < 0) return rs_throw_errno(env, errno, "socket");
  const char *what = "";
  int err = configure(fd, (int)family, flags, device, &what);
  if (err) {
    close(fd);
    return rs_throw_errno(env, err, what);
  }
  rs_sock *s = calloc(1, sizeof *s);
  if (s == NULL) {
    close(fd);
    return rs_throw_errno(env, ENOMEM, "calloc");
  }
  s->fd = fd;
  s->family = (int)family;
  s->protocol = (int)protocol;
  s->flags = flags;
  s->env = env;
  if (flags & RS_FORCE_COUNTER_IDS) s->id_mode = RS_ID_COUNTER;
  if (napi_wrap(env, self, s, finalize, NULL, NULL) != napi_ok) {
    close(fd);
    free(s);
    return NULL;
  }
  return self;
}

static rs_sock *unwrap(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv, napi_value *self) {
  napi_value this_;
  napi_get_cb_info(env, info, argc, argv, &this_, NULL);
  if (self) *self = this_;
  rs_sock *s = NULL;
  if (napi_unwrap(env, this_, (void **)&s) != napi_ok || s == NULL) {
    rs_throw_type(env, "not a RawSocket");
    return NULL;
  }
  return s;
}

/* Common start of every method: unwrap `this`, fetch nargs arguments. */
#define PROLOGUE(nargs)                                                                   \
  size_t argc = (nargs);                                                                  \
  napi_value argv[(nargs) > 0 ? (nargs) : 1], self;                                       \
  rs_sock *s = unwrap(env, info, &argc, argv, &self);                                     \
  if (s == NULL) return NULL;                                                             \
  if ((int)argc < (nargs)) return rs_throw_type(env, "expected " #nargs " arguments");   \
  (void)self;

static napi_value m_fd(napi_env env, napi_callback_info info) {
  PROLOGUE(0) return rs_u32(env, s->fd < 0 ? 0xffffffffu : (uint32_t)s->fd); }

static napi_value m_close(napi_env env, napi_callback_info info) {
  PROLOGUE(0)
  sock_close(s);
  return rs_undefined(env);
}

static napi_value m_attach_filter(napi_env env, napi_callback_info info) {
  PROLOGUE(1)
  uint8_t *prog;
  size_t len;
  if (rs_get_bytes(env, argv[0], &prog, &len, "program")) return NULL;
  if (len == 0 || len % sizeof(struct sock_filter) || len / sizeof(struct sock_filter) > BPF_MAXINSNS)
    return rs_throw_type(env, "program must hold 1-4096 struct sock_filter (8 bytes each)");
  if (s->fd < 0) return rs_throw_errno(env, EBADF, "setsockopt(SO_ATTACH_FILTER)");
  struct sock_fprog fp = {.len = (unsigned short)(len / sizeof(struct sock_filter)), .filter = (void *)prog};
  if (setsockopt(s->fd, SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof fp))
    return rs_throw_errno(env, errno, "setsockopt(SO_ATTACH_FILTER)");
  return rs_undefined(env);
}

static napi_value m_detach_filter(napi_env env, napi_callback_info info) {
  PROLOGUE(0)
  if (s->fd < 0) return rs_throw_errno(env, EBADF, "setsockopt(SO_DETACH_FILTER)");
  int dummy = 0;
  if (setsockopt(s->fd, SOL_SOCKET, SO_DETACH_FILTER, &dummy, sizeof dummy) && errno != ENOENT)
    return rs_throw_errno(env, errno, "setsockopt(SO_DETACH_FILTER)");
  return rs_undefined(env);
}

/* SO_RCVBUFFORCE (CAP_NET_ADMIN) else SO_RCVBUF (capped at rmem_max); returns the size obtained. */
static napi_value m_set_rcvbuf(napi_env env, napi_callback_info info) {
  PROLOGUE(1)
  uint32_t want;
  if (rs_get_u32(env, argv[0], &want, "bytes")) return NULL;
  if (want > 0x7fffffff / 2) want = 0x7fffffff / 2;
  if (s->fd < 0) return rs_throw_errno(env, EBADF, "setsockopt(SO_RCVBUF)");
  if (setint(s->fd, SOL_SOCKET, SO_RCVBUFFORCE, (int)want)) {
    if (errno != EPERM) return rs_throw_errno(env, errno, "setsockopt(SO_RCVBUFFORCE)");
    if (setint(s->fd, SOL_SOCKET, SO_RCVBUF, (int)want)) return rs_throw_errno(env, errno, "setsockopt(SO_RCVBUF)");
  }
  int got = 0;
  socklen_t gl = sizeof got;
  if (getsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &got, &gl)) return rs_throw_errno(env, errno, "getsockopt(SO_RCVBUF)");
  return rs_u32(env, (uint32_t)got);
}

static napi_value m_send_batch(napi_env env, napi_callback_info info) {
  PROLOGUE(6) return rs_send_batch(env, s, argv); }
static napi_value m_recv_batch(napi_env env, napi_callback_info info) {
  PROLOGUE(4) return rs_recv_batch(env, s, argv); }
static napi_value m_read_tx(napi_env env, napi_callback_info info) {
  PROLOGUE(2) return rs_read_tx_timestamps(env, s, argv); }
static napi_value m_rx_drops(napi_env env, napi_callback_info info) {
  PROLOGUE(0) return rs_u32(env, s->rx_drops); }
static napi_value m_errq_other(napi_env env, napi_callback_info info) {
  PROLOGUE(0) return rs_u32(env, s->errq_other); }
static napi_value m_stale_errors(napi_env env, napi_callback_info info) {
  PROLOGUE(0) return rs_u32(env, s->stale_errors); }

/* The kernel's drop counter read directly (SO_MEMINFO), without waiting for a packet to carry it. */
static napi_value m_kernel_drops(napi_env env, napi_callback_info info) {
  PROLOGUE(0)
  if (s->fd < 0) return rs_throw_errno(env, EBADF, "getsockopt(SO_MEMINFO)");
  uint32_t mi[SK_MEMINFO_VARS] = {0};
  socklen_t ml = sizeof mi;
  if (getsockopt(s->fd, SOL_SOCKET, SO_MEMINFO, mi, &ml)) return rs_throw_errno(env, errno, "getsockopt(SO_MEMINFO)");
  return rs_u32(env, mi[SK_MEMINFO_DROPS]);
}

static napi_value m_poll(napi_env env, napi_callback_info info) {
  PROLOGUE(1)
  napi_valuetype t;
  napi_typeof(env, argv[0], &t);
  if (t != napi_function) return rs_throw_type(env, "callback must be a function");
  return rs_poll_start(env, s, self, argv[0]);
}

static napi_value m_stop_poll(napi_env env, napi_callback_info info) {
  PROLOGUE(0)
  rs_poll_stop(s);
  return rs_undefined(env);
}

static napi_value m_start_receiver(napi_env env, napi_callback_info info) {
  PROLOGUE(4) return rs_recv_start(env, s, self, argv); }

static napi_value m_submit(napi_env env, napi_callback_info info) {
  PROLOGUE(8) return rs_submit(env, s, argv); }

static napi_value m_flush(napi_env env, napi_callback_info info) {
  PROLOGUE(0) return rs_flush(env, s); }

static napi_value m_stop_receiver(napi_env env, napi_callback_info info) {
  PROLOGUE(0)
  rs_recv_stop(s);
  return rs_undefined(env);
}

static void def_u32(napi_env env, napi_value obj, const char *name, uint32_t v) {
  napi_set_named_property(env, obj, name, rs_u32(env, v));
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor methods[] = {
      {"fd", 0, m_fd, 0, 0, 0, napi_default, 0},
      {"close", 0, m_close, 0, 0, 0, napi_default, 0},
      {"attachFilter", 0, m_attach_filter, 0, 0, 0, napi_default, 0},
      {"detachFilter", 0, m_detach_filter, 0, 0, 0, napi_default, 0},
      {"setReceiveBuffer", 0, m_set_rcvbuf, 0, 0, 0, napi_default, 0},
      {"sendBatch", 0, m_send_batch, 0, 0, 0, napi_default, 0},
      {"recvBatch", 0, m_recv_batch, 0, 0, 0, napi_default, 0},
      {"readTxTimestamps", 0, m_read_tx, 0, 0, 0, napi_default, 0},
      {"rxDrops", 0, m_rx_drops, 0, 0, 0, napi_default, 0},
      {"kernelDrops", 0, m_kernel_drops, 0, 0, 0, napi_default, 0},
      {"errorQueueSkipped", 0, m_errq_other, 0, 0, 0, napi_default, 0},
      {"staleErrors", 0, m_stale_errors, 0, 0, 0, napi_default, 0},
      {"poll", 0, m_poll, 0, 0, 0, napi_default, 0},
      {"stopPoll", 0, m_stop_poll, 0, 0, 0, napi_default, 0},
      {"startReceiver", 0, m_start_receiver, 0, 0, 0, napi_default, 0},
      {"stopReceiver", 0, m_stop_receiver, 0, 0, 0, napi_default, 0},
      {"submit", 0, m_submit, 0, 0, 0, napi_default, 0},
      {"flush", 0, m_flush, 0, 0, 0, napi_default, 0},
  };
  napi_value cls;
  napi_define_class(env, "RawSocket", NAPI_AUTO_LENGTH, ctor, NULL, sizeof methods / sizeof methods[0], methods, &cls);
  napi_set_named_property(env, exports, "RawSocket", cls);
  napi_value route;
  napi_create_function(env, "routeSources", NAPI_AUTO_LENGTH, rs_route_sources, NULL, &route);
  napi_set_named_property(env, exports, "routeSources", route);
  def_u32(env, exports, "napiVersion", NAPI_VERSION);
  def_u32(env, exports, "SEND_REC_WORDS", RS_SEND_REC_WORDS);
  def_u32(env, exports, "SEND_RES_WORDS", RS_SEND_RES_WORDS);
  def_u32(env, exports, "RECV_META_WORDS", RS_RECV_META_WORDS);
  def_u32(env, exports, "TXTS_WORDS", RS_TXTS_WORDS);
  def_u32(env, exports, "MAX_BATCH", RS_MAX_BATCH);
  def_u32(env, exports, "META_HOPLIMIT_SHIFT", RS_META_HOPLIMIT_SHIFT);
  def_u32(env, exports, "RING_HEADER_BYTES", RS_RING_HEADER_BYTES);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
