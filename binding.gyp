{
  "targets": [
    {
      "target_name": "rawsock",
      "sources": ["native/addon.c", "native/io.c", "native/poll.c", "native/recv.c", "native/route.c", "native/send.c", "native/util.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-O2"],
      "conditions": [["OS!='linux'", {"type": "none"}]]
    },
    {
      "target_name": "lab-impair",
      "type": "executable",
      "sources": ["src/lab/impair/impair.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-O2"],
      "conditions": [["OS!='linux'", {"type": "none"}]]
    },
    {
      "target_name": "lab-responder",
      "type": "executable",
      "sources": ["src/lab/impair/responder.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-O2"],
      "conditions": [["OS!='linux'", {"type": "none"}]]
    },
    {
      "target_name": "lab-sethash",
      "type": "executable",
      "sources": ["src/lab/impair/sethash.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-O2"],
      "conditions": [["OS!='linux'", {"type": "none"}]]
    }
  ]
}
