"""Runs one of the original netprobify's Python dynamic-inventory modules, unchanged, for netprobify.

Why: teams have modules written against the original's contract
start(targets, module_name, logging_level, config_file), where `targets` was a dictionary shared
with the daemon. host.ts starts this file with python3 (through sandbox.ts: memory limit, process
group, pdeathsig) and speaks newline-delimited JSON with it on fd 3, as with JavaScript modules:
  in:  {"type": "init", "name", "file", "loggingLevel", "configPath"}, then possibly {"type": "stop"};
  out: {"type": "publish", "targets": [...]}, {"type": "log", "level", "msg", "fields"},
       {"type": "returned"}, and {"type": "fatal", "msg"} before exiting 1 on an uncaught error.
Setting targets[module_name] publishes the list, converted as the original read it (see
encode_entries). The module's `logging` goes to netprobify's log. Python's standard library only.
"""

import copy
import datetime
import decimal
import importlib.util
import ipaddress
import json
import logging
import math
import os
import sys
import threading
import traceback

CHANNEL_FD = 3
_write_lock = threading.Lock()


def send(message):
    """Writes one message on the channel as a JSON line."""
    send_raw(json.dumps(message, separators=(",", ":"), allow_nan=False))


def send_raw(line):
    """Writes an encoded JSON message and its newline; a daemon that is gone ends the module."""
    data = (line + "\n").encode("utf-8")
    with _write_lock:
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(CHANNEL_FD, view) :]
        except OSError:
            os._exit(0)


def _local_iso(value):
    """ISO 8601 with the UTC offset; a naive datetime is local time (the original compared it with
    datetime.now())."""
    return value.astimezone().isoformat()


def _plain(value):
    """JSON form of what json cannot encode by itself; anything else raises TypeError in the module,
    as an unpicklable value did when assigned to the original's shared dictionary."""
    if isinstance(value, datetime.datetime):
        return _local_iso(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return str(value)
    if isinstance(value, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8")
    raise TypeError(f"{type(value).__name__} cannot be sent to netprobify: {value!r}")


def encode_lifetime(lifetime):
    """A timedelta as seconds ("90s"); a string ("1d 3h 2m") is passed on, parsed by netprobify."""
    if isinstance(lifetime, datetime.timedelta):
        return f"{max(0, math.ceil(lifetime.total_seconds()))}s"
    return lifetime


def encode_entry(entry):
    """One published entry as netprobify reads it (entries.ts), with the original's meaning."""
    if not isinstance(entry, dict):
        return entry  # refused by netprobify's validation, with its message
    out = dict(entry)
    lifetime = out.get("lifetime")
    created = out.get("creation_date")
    if not lifetime or not created:
        # The original never expired an entry without both (or with a zero lifetime).
        out.pop("lifetime", None)
        out.pop("creation_date", None)
    else:
        out["lifetime"] = encode_lifetime(lifetime)
        if isinstance(created, datetime.datetime):
            out["creation_date"] = _local_iso(created)
        elif isinstance(created, datetime.date):
            out["creation_date"] = _local_iso(datetime.datetime.combine(created, datetime.time()))
    hostname = out.get("hostname")
    if hostname is not None and not isinstance(hostname, str):
        out["hostname"] = str(hostname)  # the original formatted it into the target's name
    return out


def encode_entries(value):
    """The publish message of a list assigned to targets[module_name] (None: an empty list)."""
    if value is None:
        value = []
    if isinstance(value, (tuple, set, frozenset)):
        value = list(value)
    entries = [encode_entry(e) for e in value] if isinstance(value, list) else value
    return json.dumps(
        {"type": "publish", "targets": entries},
        separators=(",", ":"),
        allow_nan=False,
        default=_plain,
    )


class SharedTargets(dict):
    """The `targets` dictionary: assigning targets[module_name] publishes the list. Reads return
    copies, as the original's multiprocessing.Manager dictionary did."""

    def __init__(self, module_name, publish):
        super().__init__()
        self._name = module_name
        self._publish = publish
        self._warned = set()

    def __setitem__(self, key, value):
        if key == self._name:
            self._publish(encode_entries(value))  # raises in the module if the list cannot be sent
        elif key not in self._warned:
            self._warned.add(key)
            logging.getLogger(self._name).warning(
                "targets[%r] ignored: a module publishes only targets[%r]", key, self._name
            )
        super().__setitem__(key, copy.deepcopy(value))

    def __delitem__(self, key):
        super().__delitem__(key)
        if key == self._name:
            self._publish(encode_entries([]))

    def __getitem__(self, key):
        return copy.deepcopy(super().__getitem__(key))

    def get(self, key, default=None):
        return self[key] if key in self else default

    def setdefault(self, key, default=None):
        if key not in self:
            self[key] = default
        return self[key]

    def update(self, *args, **kwargs):
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def __ior__(self, other):
        self.update(other)
        return self

    def pop(self, key, *default):
        value = super().pop(key, *default)
        if key == self._name:
            self._publish(encode_entries([]))
        return value

    def popitem(self):
        key, value = super().popitem()
        if key == self._name:
            self._publish(encode_entries([]))
        return key, value

    def clear(self):
        had = self._name in self
        super().clear()
        if had:
            self._publish(encode_entries([]))


def _level_name(levelno):
    if levelno >= logging.ERROR:
        return "error"
    if levelno >= logging.WARNING:
        return "warn"
    if levelno >= logging.INFO:
        return "info"
    return "debug"


class ChannelHandler(logging.Handler):
    """The module's logging records, as log messages of netprobify's (level, logger, traceback)."""

    def emit(self, record):
        try:
            fields = {"logger": record.name}
            if record.exc_info:
                fields["exception"] = "".join(traceback.format_exception(*record.exc_info))[-1500:]
            send({"type": "log", "level": _level_name(record.levelno), "msg": record.getMessage(), "fields": fields})
        except Exception:
            self.handleError(record)


def _read_init():
    data = b""
    while b"\n" not in data:
        chunk = os.read(CHANNEL_FD, 65536)
        if not chunk:
            os._exit(0)
        data += chunk
    line, _, _ = data.partition(b"\n")
    return json.loads(line)


def _watch_channel():
    """The daemon closing its end means it is gone: so is the module. (A stop comes with SIGTERM,
    which ends the process as the original's terminate() did.)"""
    try:
        while os.read(CHANNEL_FD, 65536):
            pass
    except OSError:
        pass
    os._exit(0)


def main():
    init = _read_init()
    name, path = init["name"], init["file"]
    level = init["loggingLevel"]
    root = logging.getLogger()
    root.handlers = [ChannelHandler()]
    try:
        root.setLevel(level)
    except (ValueError, TypeError):
        root.setLevel(logging.INFO)
    threading.Thread(target=_watch_channel, name="netprobify-channel", daemon=True).start()
    # As if the module were run from its directory: its siblings can be imported.
    sys.path[0] = os.path.dirname(os.path.abspath(path))
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        start = getattr(module, "start", None)
        if not callable(start):
            raise TypeError(f"{path} defines no start() function")
        start(SharedTargets(name, send_raw), name, level, init["configPath"])
    except SystemExit:
        raise
    except BaseException as err:  # noqa: BLE001 - any error ends the module, reported as its crash
        logging.getLogger(name).error("dynamic inventory module failed", exc_info=err)
        send({"type": "fatal", "msg": f"{type(err).__name__}: {err}"[:2000]})
        os._exit(1)
    send({"type": "returned"})
    sys.exit(0)  # after the module's own non-daemon threads end, as the original's process did


if __name__ == "__main__":
    main()
