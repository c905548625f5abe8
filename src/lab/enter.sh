#!/bin/sh
# Runs a command inside fresh network, mount and PID namespaces: the netprobify lab's outer wall.
# Every probe, namespace, veth and helper process a test creates lives inside it, and the kernel
# destroys all of it when the namespace's PID 1 dies, even after a crash, `kill -9` or a timeout.
#
#   sh src/lab/enter.sh CMD [ARGS...]     exit code = CMD's exit code
#
# Inside: loopback is up, no other interface, no route out; /run/netns is a private tmpfs, so
# `ip netns add` works and its bind mounts vanish with the mount namespace; NETPROBIFY_LAB=1.
set -eu

if [ "${NETPROBIFY_LAB_STAGE:-}" = "inside" ]; then
  unset NETPROBIFY_LAB_STAGE
  # unshare already made every mount private; make sure nothing propagates back to the host.
  mount --make-rprivate /
  if [ ! -d /run/netns ]; then
    # Creating the mount point is the only visible trace on the host: an empty directory that
    # `ip netns add` would create anyway. Everything mounted on it stays in this namespace.
    mkdir -p /run/netns
  fi
  mount -t tmpfs -o mode=0755,size=1m netprobify-lab /run/netns
  ip link set lo up
  export NETPROBIFY_LAB=1
  if [ "$#" -eq 0 ]; then
    echo "enter.sh: no command given" >&2
    exit 64
  fi
  # This shell is PID 1 of the new PID namespace. The kernel ignores signals sent to PID 1 that it
  # has no handler for, so CMD (e.g. node without a SIGTERM handler) would not be stoppable by
  # `timeout`. Instead PID 1 stays a shell that forwards TERM/INT/HUP to CMD and returns its status.
  # When PID 1 exits, the kernel SIGKILLs every other process of the namespace.
  exec 3<&0
  "$@" <&3 3<&- &
  child=$!
  exec 3<&-
  trap 'kill -TERM "$child" 2>/dev/null || true' TERM
  trap 'kill -INT "$child" 2>/dev/null || true' INT
  trap 'kill -HUP "$child" 2>/dev/null || true' HUP
  set +e
  while :; do
    wait "$child"
    rc=$?
    # wait returns >128 when a trapped signal interrupts it while CMD still runs: wait again.
    if [ "$rc" -gt 128 ] && kill -0 "$child" 2>/dev/null; then
      continue
    fi
    exit "$rc"
  done
fi

if [ "$#" -eq 0 ]; then
  echo "usage: sh src/lab/enter.sh CMD [ARGS...]" >&2
  exit 64
fi

self=$(readlink -f "$0")
# --kill-child: if unshare dies (even by SIGKILL), the kernel sends SIGKILL to PID 1 of the new
# namespace (PR_SET_PDEATHSIG), which takes every process of the namespace with it.
set -- --net --mount --pid --fork --kill-child --mount-proc --propagation private \
  env NETPROBIFY_LAB_STAGE=inside sh "$self" "$@"
if [ "$(id -u)" -ne 0 ]; then
  # Unprivileged: a user namespace mapping us to root gives the capabilities the lab needs there.
  set -- --user --map-root-user "$@"
fi
# This shell stays as the process callers see and signal. unshare blocks SIGTERM/SIGINT while it
# waits for its child, so a `kill` or `timeout --foreground` aimed at it alone would do nothing:
# this shell forwards TERM/INT/HUP to the namespace's PID 1 instead, which passes them to CMD.
# setpriv --pdeathsig KILL: if this shell is SIGKILLed, unshare gets SIGKILL, and with it the namespace.
exec 3<&0
setpriv --pdeathsig KILL unshare "$@" <&3 3<&- &
upid=$!
exec 3<&-
forward() {
  for c in $(cat "/proc/$upid/task/$upid/children" 2>/dev/null); do kill "-$1" "$c" 2>/dev/null || true; done
}
trap 'forward TERM' TERM
trap 'forward INT' INT
trap 'forward HUP' HUP
set +e
while :; do
  wait "$upid"
  rc=$?
  if [ "$rc" -gt 128 ] && kill -0 "$upid" 2>/dev/null; then
    continue
  fi
  exit "$rc"
done
