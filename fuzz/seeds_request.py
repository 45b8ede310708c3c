#!/usr/bin/env python3
"""Write the seed corpus of fuzz_request (fuzz/corpus/request/).

    python3 fuzz/seeds_request.py [DIR]

Each seed is one server life in the input format of fuzz/fuzz_request.c:
a 4-byte header (configuration), then events.  The names say what each
one exercises; the fuzzer mutates from there.
"""
import os
import sys

# header byte 0
UPLOAD, OVERWRITE, BACKSLASH, IPV6, CLASSIC, DRAIN = 1, 2, 4, 8, 0x40, 0x80
MAXUP_1, MAXUP_512 = 0x10, 0x20
# header byte 3
NO_OPENAT2, NO_TMPFILE, FAIL_WATCH = 0x20, 0x40, 0x80


def req(op, name, mode=b"octet", opts=()):
    b = bytes([0, op]) + name + b"\0" + mode + b"\0"
    for k, v in opts:
        b += k + b"\0" + v + b"\0"
    return b


def rrq(name, mode=b"octet", opts=()):
    return req(1, name, mode, opts)


def wrq(name, mode=b"octet", opts=()):
    return req(2, name, mode, opts)


def data(block, payload):
    return bytes([0, 3, block >> 8, block & 255]) + payload


def ack(block):
    return bytes([0, 4, block >> 8, block & 255])


def error(code, msg):
    return bytes([0, 5, 0, code]) + msg + b"\0"


def length(pkt):
    if len(pkt) >= 255:
        return bytes([255, len(pkt) >> 8, len(pkt) & 255]) + pkt
    return bytes([len(pkt)]) + pkt


def to_listener(pkt, src=0):
    """src: 0, 1 = two ports of client A, 2 = client B, 3 = other family"""
    return bytes([src << 2]) + length(pkt)


def to_transfer(pkt, which=0, src=0, twice=False):
    """src: 0 = A, 2 = B, 1 = A's other port (a stranger)"""
    c = 1 | (which & 7) << 4 | (8 if twice else 0)
    c |= 0x80 if src == 1 else (4 if src == 2 else 0)
    return bytes([c]) + length(pkt)


def to_deadline(ms=0):
    return bytes([2 | ms << 2])


def sleep(byte, shift):
    return bytes([3 | shift << 2, byte])


def hdr(b0=DRAIN, b1=0, b2=0, b3=0):
    return bytes([b0, b1, b2, b3])


BLK8 = 3            # header byte 1: blksize-max table index
WIN4 = 3 << 3       # windowsize-max 4
RETRIES1 = 2        # header byte 2
MAXT1, MAXT4 = 1 << 4, 3 << 4
PERCLIENT1 = 1 << 6

SEEDS = {
    "rrq-plain": hdr() + to_listener(rrq(b"b.bin")) +
    b"".join(to_transfer(ack(i)) for i in (1, 2, 3)),
    "rrq-options": hdr() + to_listener(rrq(b"b.bin", opts=(
        (b"blksize", b"1024"), (b"tsize", b"0"), (b"windowsize", b"2"),
        (b"timeout", b"2")))) + to_transfer(ack(0)) + to_transfer(ack(2)),
    "rrq-options-clamped": hdr(DRAIN, BLK8 | WIN4) + to_listener(rrq(
        b"/sub/d.txt", opts=((b"BLKSIZE", b"65464"),
                             (b"windowsize", b"65535"), (b"rollover", b"1"),
                             (b"multicast", b""), (b"tsize", b"x")))) +
    to_transfer(ack(0)) + to_deadline() + to_transfer(ack(2)) +
    to_transfer(ack(4)),
    "rrq-netascii": hdr() + to_listener(rrq(b"a.txt", b"NetAscii")) +
    to_transfer(ack(1)),
    "rrq-empty": hdr() + to_listener(rrq(b"empty", opts=(
        (b"tsize", b"0"),))) + to_transfer(ack(0)) + to_transfer(ack(1)),
    "rrq-big-blocks": hdr() + to_listener(rrq(b"big.bin", opts=(
        (b"blksize", b"65464"), (b"windowsize", b"4")))) +
    to_transfer(ack(0)) + to_transfer(ack(1)) + to_transfer(ack(3)),
    "rrq-block-edge": hdr() + to_listener(rrq(b"c512")) +
    to_transfer(ack(1)) + to_transfer(ack(2)),
    "rrq-duplicates": hdr() + to_listener(rrq(b"b.bin")) +
    to_listener(rrq(b"b.bin")) + to_transfer(ack(1), twice=True) +
    to_listener(rrq(b"a.txt")) + to_listener(rrq(b"b.bin"), src=1) +
    to_transfer(ack(1), which=1),
    "rrq-late-duplicate": hdr() +
    to_listener(rrq(b"empty")) + to_transfer(ack(1)) + to_deadline() +
    to_deadline() + to_listener(rrq(b"empty")) + sleep(255, 16) +
    to_listener(rrq(b"empty")),
    "rrq-timeout": hdr(DRAIN, 0, RETRIES1) + to_listener(rrq(b"b.bin")) +
    to_deadline() + to_deadline(3) + to_deadline(),
    "rrq-timeout-classic": hdr(DRAIN | CLASSIC) +
    to_listener(rrq(b"b.bin", opts=((b"windowsize", b"4"),
                                    (b"blksize", b"8")))),
    "rrq-window-loss": hdr(DRAIN, 3 | 4 << 3) + to_listener(rrq(
        b"b.bin", opts=((b"blksize", b"8"), (b"windowsize", b"16")))) +
    to_transfer(ack(0)) + to_transfer(ack(5)) + to_deadline() +
    to_deadline() + to_transfer(ack(16)) + to_transfer(ack(9)) +
    to_deadline(),
    "rrq-shutdown": hdr(0) + to_listener(rrq(b"b.bin")) +
    to_listener(rrq(b"a.txt"), src=2) + to_transfer(ack(1)),
    "rrq-stranger": hdr() + to_listener(rrq(b"b.bin")) +
    to_transfer(ack(1), src=1) + to_transfer(b"\0\5junk", src=1) +
    to_transfer(ack(1)),
    "rrq-client-error": hdr() + to_listener(rrq(b"b.bin")) +
    to_transfer(error(0, b"cancelled")),
    "rrq-garbage-to-transfer": hdr() + to_listener(rrq(b"b.bin")) +
    to_transfer(b"\0") + to_transfer(b"\0\1x\0octet\0") +
    to_transfer(data(1, b"abc")) + to_transfer(ack(7)),
    "rrq-busy": hdr(DRAIN, 0, MAXT1) +
    to_listener(rrq(b"b.bin")) + to_listener(rrq(b"a.txt"), src=2) +
    to_listener(rrq(b"a.txt"), src=1),
    "rrq-per-client": hdr(DRAIN, 0, MAXT4 | PERCLIENT1) +
    to_listener(rrq(b"b.bin")) + to_listener(rrq(b"a.txt"), src=1) +
    to_listener(rrq(b"a.txt"), src=2),
    "rrq-ipv6": hdr(DRAIN | IPV6) + to_listener(rrq(b"b.bin")) +
    to_transfer(ack(1)) + to_listener(rrq(b"a.txt"), src=3),
    "rrq-other-family": hdr() + to_listener(rrq(b"b.bin"), src=3),
    "rrq-bind-fails": hdr(DRAIN, 0, 0, 1) + to_listener(rrq(b"b.bin")) +
    to_listener(rrq(b"b.bin"), src=2),
    "rrq-watch-fails": hdr(DRAIN, 0, 0, FAIL_WATCH) +
    to_listener(rrq(b"b.bin")) + to_listener(rrq(b"a.txt"), src=2),
    "bad-modes": hdr() + to_listener(rrq(b"a.txt", b"mail")) +
    to_listener(rrq(b"a.txt", b"binary"), src=2) +
    to_listener(rrq(b"a.txt", b""), src=1),
    "not-requests": hdr() + to_listener(ack(0)) +
    to_listener(data(1, b"x")) + to_listener(error(1, b"x")) +
    to_listener(bytes([0, 6]) + b"blksize\0008\0") +
    to_listener(b"\0\1a\0octet") + to_listener(b"\0\1") +
    to_listener(b"") + to_listener(b"\0\x09x\0octet\0"),
    "escapes": hdr() + b"".join(to_listener(rrq(n), src=i % 3) for i, n in
                                enumerate((
        b"../secret", b"/../secret", b"sub/../../secret", b"out",
        b"sub/up", b"abs", b"/etc/passwd", b"fifo", b"sub", b"in",
        b"//sub//d.txt", b"/", b"", b"sub/./d.txt", b"..",
        b"sub\\..\\..\\secret"))),
    "escapes-walk": hdr(DRAIN | BACKSLASH, 0, 0, NO_OPENAT2) + b"".join(
        to_listener(rrq(n), src=i % 3) for i, n in enumerate((
            b"..\\secret", b"sub\\up", b"out", b"in", b"\\sub\\d.txt",
            b"abs", b"fifo")))
    + to_transfer(ack(1)),
    "names-long": hdr() + to_listener(rrq(b"a" * 600)) +
    to_listener(rrq(b"sub/" + b"b" * 507), src=2) +
    to_listener(rrq(b"/" * 300 + b"a.txt"), src=1),
    "names-control": hdr() + to_listener(rrq(b"a\x1b[2J\n\"\\\x7f\xff")),
    "wrq-disabled": hdr() + to_listener(wrq(b"new.txt")),
    "wrq-new": hdr(DRAIN | UPLOAD) + to_listener(wrq(b"new.txt")) +
    to_transfer(data(1, b"x" * 512)) + to_transfer(data(2, b"tail")),
    "wrq-new-named-temp": hdr(DRAIN | UPLOAD, 0, 0, NO_TMPFILE) +
    to_listener(wrq(b"sub/new")) + to_transfer(data(1, b"abc")),
    "wrq-exists": hdr(DRAIN | UPLOAD) + to_listener(wrq(b"a.txt")) +
    to_listener(wrq(b"in"), src=2) + to_listener(wrq(b"fifo"), src=1),
    "wrq-overwrite": hdr(DRAIN | OVERWRITE) + to_listener(wrq(
        b"a.txt", b"netascii")) + to_transfer(data(1, b"one\r\ntwo\r\0")) +
    to_listener(wrq(b"out"), src=2) + to_transfer(data(1, b"z"), 1, 2) +
    to_listener(wrq(b"sub"), src=1),
    "wrq-options": hdr(DRAIN | UPLOAD) + to_listener(wrq(b"w.bin", opts=(
        (b"blksize", b"8"), (b"windowsize", b"4"), (b"tsize", b"20")))) +
    to_transfer(data(1, b"01234567")) + to_transfer(data(3, b"01234567")) +
    to_transfer(data(2, b"01234567")) + to_transfer(data(3, b"0123")),
    "wrq-too-big": hdr(DRAIN | UPLOAD | MAXUP_512) + to_listener(wrq(
        b"big", opts=((b"tsize", b"513"),))) + to_listener(wrq(b"big2"),
                                                           src=2) +
    to_transfer(data(1, b"y" * 512)) + to_transfer(data(2, b"y")),
    "wrq-same-name": hdr(DRAIN | UPLOAD) +
    to_listener(wrq(b"race")) + to_listener(wrq(b"race"), src=2) +
    to_listener(wrq(b"/race"), src=1) + to_transfer(data(1, b"r")),
    "wrq-aborted": hdr(DRAIN | UPLOAD, 0, 0, NO_TMPFILE) +
    to_listener(wrq(b"gone")) + to_transfer(data(1, b"a" * 512)) +
    to_transfer(error(0, b"bye")) + to_listener(wrq(b"gone2"), src=2),
    "wrq-superseded": hdr(DRAIN | UPLOAD) + to_listener(wrq(b"s1")) +
    to_transfer(data(1, b"a" * 512)) + to_listener(rrq(b"b.bin")) +
    to_transfer(ack(1)),
    "wrq-reserved-names": hdr(DRAIN | OVERWRITE) +
    to_listener(wrq(b".tftpx-1.tmp")) +
    to_listener(wrq(b"sub/.tftpx-x.tmp"), src=2),
    "wrq-over-max-upload": hdr(DRAIN | UPLOAD | MAXUP_1) +
    to_listener(wrq(b"m")) + to_transfer(data(1, b"12")),
    "wrq-tsize-no-space": hdr(DRAIN | UPLOAD) + to_listener(wrq(
        b"huge", opts=((b"tsize", b"999999999999999"),))),
    "wrq-dally": hdr(DRAIN | UPLOAD) + to_listener(wrq(b"d")) +
    to_transfer(data(1, b"q")) + to_transfer(data(1, b"q")) +
    sleep(200, 12) + to_transfer(data(1, b"q")),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus", "request")
    os.makedirs(out, exist_ok=True)
    for name, b in sorted(SEEDS.items()):
        with open(os.path.join(out, name), "wb") as f:
            f.write(b)
    print(f"{len(SEEDS)} seeds in {out}")


if __name__ == "__main__":
    main()
