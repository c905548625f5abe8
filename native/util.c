/* N-API plumbing shared by the addon: errors that carry errno/syscall the way Node's own system
 * errors do (code = "EPERM", errno, syscall), argument unwrapping, and a per-socket scratch area
 * so batched calls allocate nothing after warm-up. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rawsock.h"

static void set_prop(napi_env env, napi_value obj, const char *key, napi_value v) {
  napi_set_named_property(env, obj, key, v);
}

napi_value rs_throw_errno(napi_env env, int err, const char *syscall) {
  const char *name = strerrorname_np(err);
  char code_buf[16];
  if (name == NULL) {
    snprintf(code_buf, sizeof code_buf, "E%d", err);
    name = code_buf;
  }
  char msg[256];
  snprintf(msg, sizeof msg, "%s failed: %s (%s)", syscall, strerror(err), name);
  napi_value m, c, e, n, sc;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &c);
  napi_create_error(env, c, m, &e);
  napi_create_int32(env, err, &n);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sc);
  set_prop(env, e, "errno", n);
  set_prop(env, e, "syscall", sc);
  napi_throw(env, e);
  return NULL;
}

napi_value rs_throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return NULL;
}

int rs_get_u32(napi_env env, napi_value v, uint32_t *out, const char *name) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= 0 && d <= 4294967295.0) || d != (uint32_t)d) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s must be an integer in [0, 2^32)", name);
    rs_throw_type(env, msg);
    return -1;
  }
  *out = (uint32_t)d;
  return 0;
}

/* A Buffer or any TypedArray viewed as bytes. */
int rs_get_bytes(napi_env env, napi_value v, uint8_t **data, size_t *len, const char *name) {
  bool is_ta = false;
  napi_is_typedarray(env, v, &is_ta);
  if (is_ta) {
    napi_typedarray_type t;
    size_t n, off;
    void *p;
    napi_value ab;
    napi_get_typedarray_info(env, v, &t, &n, &p, &ab, &off);
    size_t el = 1;
    switch (t) {
      case napi_int16_array: case napi_uint16_array: el = 2; break;
      case napi_int32_array: case napi_uint32_array: case napi_float32_array: el = 4; break;
      case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: el = 8; break;
      default: el = 1;
    }
    *data = p;
    *len = n * el;
    return 0;
  }
  char msg[128];
  snprintf(msg, sizeof msg, "%s must be a Buffer or Uint8Array", name);
  rs_throw_type(env, msg);
  return -1;
}

int rs_get_u32_array(napi_env env, napi_value v, uint32_t **data, size_t *len, const char *name) {
  bool is_ta = false;
  napi_is_typedarray(env, v, &is_ta);
  if (is_ta) {
    napi_typedarray_type t;
    size_t n, off;
    void *p;
    napi_value ab;
    napi_get_typedarray_info(env, v, &t, &n, &p, &ab, &off);
    if (t == napi_uint32_array) {
      *data = p;
      *len = n;
      return 0;
    }
  }
  char msg[128];
  snprintf(msg, sizeof msg, "%s must be a Uint32Array", name);
  rs_throw_type(env, msg);
  return -1;
}

void *rs_scratch(rs_sock *s, size_t len) {
  if (len > s->scratch_len) {
    void *p = realloc(s->scratch, len);
    if (p == NULL) return NULL;
    s->scratch = p;
    s->scratch_len = len;
  }
  memset(s->scratch, 0, len);
  return s->scratch;
}

napi_value rs_u32(napi_env env, uint32_t v) {
  napi_value r;
  napi_create_uint32(env, v, &r);
  return r;
}

napi_value rs_undefined(napi_env env) {
  napi_value r;
  napi_get_undefined(env, &r);
  return r;
}
