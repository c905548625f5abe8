/* The kernel's source address toward many destinations at once, for start-up: a group without a
 * fixed source needs it for every destination (our hand-written headers and checksums carry it).
 * connect() on a UDP socket selects a route and a local address without sending anything; one
 * socket per call, disconnected and re-connected for each destination, costs a few microseconds per address, where
 * a Node dgram socket per destination cost ~40 us and a file descriptor each. No protocol here
 * either: addresses in, addresses and errno values out. */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rawsock.h"

/* routeSources(family 4|6, dsts: Uint8Array (16 bytes each), count, out: Uint8Array (16 bytes each),
 * errors: Uint32Array (count)) -> count. errors[i] = 0 and out[i] = source, or the errno of connect()
 * or getsockname(). */
napi_value rs_route_sources(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 5) return rs_throw_type(env, "routeSources(family, dsts, count, out, errors)");
  uint32_t family, count;
  uint8_t *dsts, *out;
  uint32_t *errs;
  size_t dlen, olen, elen;
  if (rs_get_u32(env, argv[0], &family, "family") || rs_get_bytes(env, argv[1], &dsts, &dlen, "dsts") ||
      rs_get_u32(env, argv[2], &count, "count") || rs_get_bytes(env, argv[3], &out, &olen, "out") ||
      rs_get_u32_array(env, argv[4], &errs, &elen, "errors"))
    return NULL;
  if (family != 4 && family != 6) return rs_throw_type(env, "family must be 4 or 6");
  if ((size_t)count * RS_ADDR_BYTES > dlen || (size_t)count * RS_ADDR_BYTES > olen || count > elen)
    return rs_throw_type(env, "routeSources: buffers too small for count");
  int fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP);
  if (fd < 0) return rs_throw_errno(env, errno, "socket");
  for (uint32_t i = 0; i < count; i++) {
    const uint8_t *d = dsts + (size_t)i * RS_ADDR_BYTES;
    uint8_t *o = out + (size_t)i * RS_ADDR_BYTES;
    memset(o, 0, RS_ADDR_BYTES);
    struct sockaddr_storage to, me;
    socklen_t tolen, melen = sizeof me;
    memset(&to, 0, sizeof to);
    if (family == 4) {
      struct sockaddr_in *s = (struct sockaddr_in *)&to;
      s->sin_family = AF_INET;
      s->sin_port = htons(9);
      memcpy(&s->sin_addr, d, 4);
      tolen = sizeof *s;
    } else {
      struct sockaddr_in6 *s = (struct sockaddr_in6 *)&to;
      s->sin6_family = AF_INET6;
      s->sin6_port = htons(9);
      memcpy(&s->sin6_addr, d, 16);
      tolen = sizeof *s;
    }
    /* Dissolve the previous association first: a connected socket keeps the local address it got,
     * and a re-connect would report that one instead of the new route's. */
    struct sockaddr unspec = {.sa_family = AF_UNSPEC};
    connect(fd, &unspec, sizeof unspec);
    if (connect(fd, (struct sockaddr *)&to, tolen) != 0) {
      errs[i] = (uint32_t)errno;
      continue;
    }
    if (getsockname(fd, (struct sockaddr *)&me, &melen) != 0) {
      errs[i] = (uint32_t)errno;
      continue;
    }
    errs[i] = 0;
    if (family == 4)
      memcpy(o, &((struct sockaddr_in *)&me)->sin_addr, 4);
    else
      memcpy(o, &((struct sockaddr_in6 *)&me)->sin6_addr, 16);
  }
  close(fd);
  return rs_u32(env, count);
}
