#!/usr/bin/env python3
# Foreign-reply flooder for the filter tests and bench/flood.ts: from a lab namespace, sends ICMP echo
# replies with random identifiers and TCP SYN-ACKs with random acknowledgement numbers (to the
# prober's source ports) toward the prober's IPv4 address, as a busy network would: replies to other
# pingers, backscatter. None answers a probe of ours. Raw IPv4 socket, headers built here. Stdlib only.
#
# argv: SRC DST PORT_LO PORT_HI COUNT RATE   (COUNT of each kind; RATE packets/s in total, 0 = as fast
# as possible). Prints one JSON line {"echo": n, "synack": n, "seconds": s} when done.
import json
import os
import random
import socket
import struct
import sys
import time


def csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ip4(src: bytes, dst: bytes, proto: int, payload: bytes) -> bytes:
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), random.getrandbits(16), 0, 64, proto, 0, src, dst)
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + payload


def echo_reply(src: bytes, dst: bytes) -> bytes:
    icmp = struct.pack("!BBHHH", 0, 0, 0, random.getrandbits(16), random.getrandbits(16)) + os.urandom(8)
    icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
    return ip4(src, dst, 1, icmp)


def syn_ack(src: bytes, dst: bytes, lo: int, hi: int) -> bytes:
    sport, dport = 80, random.randint(lo, hi)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, random.getrandbits(32), random.getrandbits(32), 5 << 4, 0x12, 65535, 0, 0)
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
    return ip4(src, dst, 6, tcp)


def main() -> None:
    src_s, dst_s, lo, hi, count, rate = sys.argv[1:7]
    src, dst = socket.inet_aton(src_s), socket.inet_aton(dst_s)
    lo, hi, count, rate = int(lo), int(hi), int(count), float(rate)
    # A pool of distinct forged packets, cycled: building each one in Python would cap the rate.
    pool = [echo_reply(src, dst) if k % 2 == 0 else syn_ack(src, dst, lo, hi) for k in range(4096)]
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    addr = (dst_s, 0)
    sent = {"echo": 0, "synack": 0}
    t0 = time.monotonic()
    total = 2 * count
    burst = 64
    for k in range(0, total, burst):
        for j in range(k, min(k + burst, total)):
            while True:
                try:
                    s.sendto(pool[j % len(pool)], addr)
                    break
                except (BlockingIOError, OSError):
                    time.sleep(0.0005)
            sent["echo" if j % 2 == 0 else "synack"] += 1
        if rate > 0:
            ahead = (k + burst) / rate - (time.monotonic() - t0)
            if ahead > 0:
                time.sleep(ahead)
    sent["seconds"] = time.monotonic() - t0
    print(json.dumps(sent), flush=True)


main()
