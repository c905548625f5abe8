/* Event-loop integration: a uv_poll handle per socket that calls a JS callback when the socket is
 * readable or its error queue holds TX timestamps. Two facts shape it (ARCHITECTURE.md):
 *  - a pending error queue makes epoll report POLLERR, and libuv stops a poll handle with UV_EBADF on
 *    POLLERR unless POLLPRI comes with it: sockets set SO_SELECT_ERR_QUEUE (error queue -> POLLPRI)
 *    and we poll with UV_PRIORITIZED;
 *  - the JS object must stay alive while only the poll handle points at it: polling holds a strong
 *    reference, released by stopPoll()/close(). */
#include <errno.h>
#include <stdlib.h>

#include "rawsock.h"

#define EV_READABLE 1u
#define EV_ERRQUEUE 2u

static void release_refs(rs_sock *s) {
  if (s->cb_ref != NULL) {
    napi_delete_reference(s->env, s->cb_ref);
    s->cb_ref = NULL;
  }
  if (s->self_ref != NULL) {
    napi_delete_reference(s->env, s->self_ref);
    s->self_ref = NULL;
  }
  if (s->async_ctx != NULL) {
    napi_async_destroy(s->env, s->async_ctx);
    s->async_ctx = NULL;
  }
}

static void on_poll(uv_poll_t *h, int status, int events) {
  rs_poll *p = (rs_poll *)h;
  rs_sock *s = p->sock;
  if (s == NULL || s->cb_ref == NULL) return;
  napi_env env = s->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, self, args[2];
  napi_get_reference_value(env, s->cb_ref, &cb);
  napi_get_reference_value(env, s->self_ref, &self);
  napi_async_context ctx = s->async_ctx;
  if (status < 0) {
    /* libuv already stopped the handle: tell JS once, with the error, and let go of it. */
    napi_value code, msg;
    napi_create_string_utf8(env, uv_err_name(status), NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, uv_strerror(status), NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, code, msg, &args[0]);
    napi_value en, sc;
    napi_create_int32(env, -status, &en);
    napi_create_string_utf8(env, "uv_poll", NAPI_AUTO_LENGTH, &sc);
    napi_set_named_property(env, args[0], "errno", en);
    napi_set_named_property(env, args[0], "syscall", sc);
    napi_create_uint32(env, 0, &args[1]);
    s->async_ctx = NULL; /* destroyed after the call below */
    release_refs(s);
  } else {
    napi_get_null(env, &args[0]);
    uint32_t ev = ((events & UV_READABLE) ? EV_READABLE : 0) | ((events & UV_PRIORITIZED) ? EV_ERRQUEUE : 0);
    napi_create_uint32(env, ev, &args[1]);
  }
  napi_value result;
  napi_status st = napi_make_callback(env, ctx, self, cb, 2, args, &result);
  if (st == napi_pending_exception) {
    napi_value exc;
    if (napi_get_and_clear_last_exception(env, &exc) == napi_ok) napi_fatal_exception(env, exc);
  }
  if (status < 0 && ctx != NULL) napi_async_destroy(env, ctx);
  napi_close_handle_scope(env, scope);
}

napi_value rs_poll_start(napi_env env, rs_sock *s, napi_value self, napi_value cb) {
  if (s->fd < 0) return rs_throw_errno(env, EBADF, "uv_poll_start");
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return rs_throw_errno(env, EINVAL, "napi_get_uv_event_loop");
  if (s->poll == NULL) {
    rs_poll *p = calloc(1, sizeof *p);
    if (p == NULL) return rs_throw_errno(env, ENOMEM, "uv_poll_init");
    int r = uv_poll_init(loop, &p->handle, s->fd);
    if (r < 0) {
      free(p);
      return rs_throw_errno(env, -r, "uv_poll_init");
    }
    p->sock = s;
    s->poll = p;
  }
  release_refs(s); /* a second poll() replaces the callback */
  napi_create_reference(env, self, 1, &s->self_ref);
  napi_create_reference(env, cb, 1, &s->cb_ref);
  napi_value name;
  napi_create_string_utf8(env, "netprobify.rawsock", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, self, name, &s->async_ctx);
  int events = UV_READABLE;
  if (!(s->flags & RS_NO_SELECT_ERR_QUEUE)) events |= UV_PRIORITIZED;
  int r = uv_poll_start(&s->poll->handle, events, on_poll);
  if (r < 0) {
    release_refs(s);
    return rs_throw_errno(env, -r, "uv_poll_start");
  }
  return rs_undefined(env);
}

void rs_poll_stop(rs_sock *s) {
  if (s->poll != NULL) uv_poll_stop(&s->poll->handle);
  release_refs(s);
}

static void free_poll(uv_handle_t *h) { free(h); }

/* Before close(fd): uv_close removes the fd from epoll synchronously; the handle memory is freed in
 * the close callback, which may run after the socket struct itself is gone (p->sock = NULL). */
void rs_poll_release(rs_sock *s) {
  rs_poll_stop(s);
  if (s->poll != NULL) {
    s->poll->sock = NULL;
    uv_close((uv_handle_t *)&s->poll->handle, free_poll);
    s->poll = NULL;
  }
}
