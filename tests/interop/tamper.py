#!/usr/bin/env python3
"""Changes one value of a golden region (keeping its format valid) so that every reader of the
interop matrix must report a mismatch: proof that the readers check values, not only formats.

usage: tamper.py KIND FILE
"""
import struct
import sys

T0 = 1_700_000_000_000


def find_once(data: bytes, needle: bytes, what: str) -> int:
    at = data.find(needle)
    if at < 0 or data.find(needle, at + 1) >= 0:
        sys.exit(f"tamper: {what} not found exactly once")
    return at


def main() -> None:
    kind, path = sys.argv[1], sys.argv[2]
    data = bytearray(open(path, "rb").read())
    if kind == "slots":
        # The record of SYM3: price 104.75, timestamp T, volume 1021, valid 1 (SPEC.md).
        rec = struct.pack("<dQiB3x", 104.75, 1_700_000_000_000_000_003, 1021, 1)
        at = find_once(data, rec, "the SYM3 record")
        data[at : at + 8] = struct.pack("<d", 104.875)
    elif kind == "journal":
        # Message 100: 100 bytes, byte j = (3100 + 7 j) mod 256. Change its byte 50.
        payload = bytes((31 * 100 + 7 * j) % 256 for j in range(100))
        # (Messages 356, 612, 868 start with the same bytes but are shorter; any flipped
        # payload byte must fail every reader.)
        at = data.find(payload)
        if at < 0:
            sys.exit("tamper: the payload of message 100 not found")
        data[at + 50] ^= 0x01
    elif kind == "candles":
        # BTCUSDT 1m candle 250: timestamp, open 225; change its close 225.75 to 225.875.
        head = struct.pack("<Qd", T0 + 60_000 * 250, 225.0)
        # A grown series leaves a stale copy in the block it moved out of: change every copy.
        at, n = data.find(head), 0
        while at >= 0:
            assert struct.unpack_from("<d", data, at + 32)[0] == 225.75
            data[at + 32 : at + 40] = struct.pack("<d", 225.875)
            at, n = data.find(head, at + 1), n + 1
        if n == 0:
            sys.exit("tamper: BTCUSDT 1m candle 250 not found")
    else:
        sys.exit(f"tamper: unknown kind {kind}")
    open(path, "wb").write(bytes(data))


if __name__ == "__main__":
    main()
