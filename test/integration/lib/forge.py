#!/usr/bin/env python3
# Forger for the engine's matching tests: runs inside a lab target's namespace (ip netns exec), reads
# the probes arriving on one interface with an AF_PACKET socket (which sees them before nftables
# drops them, so the target's own kernel never answers), and answers each with a forged reply chosen
# by the probe's destination address: a correct reply (the control) or one that is wrong in exactly
# one way (acknowledgement, source address, port, quoted IP ID, quoted tag, quoted destination).
# Frames go back out of the same interface with the MACs swapped. Stdlib only.
#
# argv: IFACE JSON  where JSON = {"modes": {"<probe dst>": "<mode>"}, "other4": A, "other6": A}
# stdin: "stats" -> one JSON line {"<mode>": forged count}; EOF -> exit. Prints "ready" when listening.
import json
import os
import select
import socket
import struct
import sys

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


def csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ip4(src: bytes, dst: bytes, proto: int, payload: bytes, ident: int = 0x1234) -> bytes:
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0, 64, proto, 0, src, dst)
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + payload


def ip6(src: bytes, dst: bytes, nh: int, payload: bytes) -> bytes:
    return struct.pack("!IHBB16s16s", 0x60000000, len(payload), nh, 64, src, dst) + payload


def pseudo(v: int, src: bytes, dst: bytes, proto: int, length: int) -> bytes:
    if v == 4:
        return src + dst + struct.pack("!BBH", 0, proto, length)
    return src + dst + struct.pack("!IxxxB", length, proto)


def with_sum(v: int, src: bytes, dst: bytes, proto: int, seg: bytes, at: int, use_pseudo=True) -> bytes:
    pre = pseudo(v, src, dst, proto, len(seg)) if use_pseudo else b""
    c = csum(pre + seg)
    return seg[:at] + struct.pack("!H", c) + seg[at + 2 :]


class Forger:
    def __init__(self, iface: str, cfg: dict):
        self.modes = cfg["modes"]
        self.other = {4: socket.inet_pton(socket.AF_INET, cfg["other4"]),
                      6: socket.inet_pton(socket.AF_INET6, cfg["other6"])}
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.sock.bind((iface, 0))
        self.stats: dict = {}

    def handle(self, frame: bytes) -> None:
        et = struct.unpack("!H", frame[12:14])[0]
        eth = frame[6:12] + frame[0:6] + frame[12:14]
        if et == 0x0800:
            ip = frame[14 : 14 + struct.unpack("!H", frame[16:18])[0]]
            v, hl, proto = 4, (ip[0] & 15) * 4, ip[9]
            src, dst = ip[12:16], ip[16:20]
            fam = socket.AF_INET
        elif et == 0x86DD:
            ip = frame[14 : 14 + 40 + struct.unpack("!H", frame[18:20])[0]]
            v, hl, proto = 6, 40, ip[6]
            src, dst = ip[8:24], ip[24:40]
            fam = socket.AF_INET6
        else:
            return
        mode = self.modes.get(socket.inet_ntop(fam, dst))
        if mode is None:
            return
        l4 = ip[hl:]
        out = None
        if proto == 6 and len(l4) >= 20 and l4[13] == 0x02:
            out = self.tcp(v, mode, src, dst, l4)
        elif proto in (1, 58) and len(l4) >= 8 and l4[0] in (8, 128):
            out = self.echo(v, mode, src, dst, l4)
        elif proto == 17:
            out = self.unreachable(v, mode, src, dst, ip, hl)
        if out is None:
            return
        self.sock.send(eth + out)
        self.stats[mode] = self.stats.get(mode, 0) + 1

    def tcp(self, v, mode, src, dst, syn):
        sport, dport, seq = struct.unpack("!HHI", syn[:8])
        ack = (seq + 1) & 0xFFFFFFFF
        frm, rsport, rdport = dst, dport, sport
        if mode == "tcp-wrong-ack":
            ack ^= 0x40000000
        elif mode == "tcp-wrong-src":
            frm = self.other[v]
        elif mode == "tcp-wrong-port":
            rsport = dport + 1
        elif mode == "tcp-outside-range":
            rdport = 40000
        elif mode != "tcp-ok":
            return None
        seg = struct.pack("!HHIIBBHHH", rsport, rdport, 0x01020304, ack, 0x50, 0x12, 65535, 0, 0)
        seg = with_sum(v, frm, src, 6, seg, 16)
        return ip4(frm, src, 6, seg) if v == 4 else ip6(frm, src, 6, seg)

    def echo(self, v, mode, src, dst, req):
        ident, seq = struct.unpack("!HH", req[4:8])
        frm = dst
        if mode == "icmp-wrong-id":
            ident ^= 0x4000
        elif mode == "icmp-wrong-src":
            frm = self.other[v]
        elif mode != "icmp-ok":
            return None
        proto = 1 if v == 4 else 58
        msg = struct.pack("!BBHHH", 0 if v == 4 else 129, 0, 0, ident, seq) + req[8:]
        msg = with_sum(v, frm, src, proto, msg, 2, use_pseudo=(v == 6))
        return ip4(frm, src, 1, msg) if v == 4 else ip6(frm, src, 58, msg)

    def unreachable(self, v, mode, src, dst, ip, hl):
        q = bytearray(ip)
        short = mode in ("udp-ok-short", "udp-wrong-ipid")
        if mode == "udp-wrong-tag":
            struct.pack_into("!I", q, hl + 8, struct.unpack_from("!I", q, hl + 8)[0] ^ 0x40000000)
        elif mode == "udp-wrong-ipid":
            struct.pack_into("!H", q, 4, struct.unpack_from("!H", q, 4)[0] ^ 0x4000)
        elif mode == "udp-wrong-dst":
            if v == 4:
                q[16:20] = self.other[4]
            else:
                q[24:40] = self.other[6]
        elif mode == "udp-outside-range":
            struct.pack_into("!H", q, hl, 40000)
        elif mode not in ("udp-ok-full", "udp-ok-short"):
            return None
        if v == 4:
            q[10:12] = b"\0\0"
            q[10:12] = struct.pack("!H", csum(bytes(q[:20])))
        quote = bytes(q[: hl + 8]) if short else bytes(q)
        if v == 4:
            msg = with_sum(4, dst, src, 1, struct.pack("!BBHI", 3, 3, 0, 0) + quote, 2, use_pseudo=False)
            return ip4(dst, src, 1, msg)
        msg = with_sum(6, dst, src, 58, struct.pack("!BBHI", 1, 4, 0, 0) + quote, 2)
        return ip6(dst, src, 58, msg)

    def loop(self) -> None:
        print("ready", flush=True)
        stdin = sys.stdin.fileno()
        buf = b""
        while True:
            r, _, _ = select.select([self.sock, stdin], [], [])
            if self.sock in r:
                frame, addr = self.sock.recvfrom(65535)
                if addr[2] != PACKET_OUTGOING:
                    self.handle(frame)
            if stdin in r:
                data = os.read(stdin, 4096)
                if not data:
                    return
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip() == b"stats":
                        print(json.dumps(self.stats), flush=True)


if __name__ == "__main__":
    Forger(sys.argv[1], json.loads(sys.argv[2])).loop()
