#!/usr/bin/python3
"""Write an x-ray model file from the documented format, independently of
the C code (tests only).

usage: make_model.py OUT P VERSION [H W C F1,F2,... DENSE]

All weights are zero and the output bias is logit(P), so the model scores
every image P exactly: a way to reach each risk band on purpose.
"""
import hashlib
import math
import struct
import sys


def tensor_sizes(h, w, c, filters, dense):
    sizes, cin = [], c
    for f in filters:
        sizes += [f * 9 * cin, f]
        h, w, cin = (h - 2) // 2, (w - 2) // 2, f
    flat = h * w * cin
    return sizes + [dense * flat, dense, dense, 1]


def main():
    out, p, version = sys.argv[1], float(sys.argv[2]), sys.argv[3].encode()
    h, w, c, filters, dense = 24, 24, 3, [2, 2], 4
    if len(sys.argv) > 4:
        h, w, c = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
        filters = [int(x) for x in sys.argv[7].split(",")]
        dense = int(sys.argv[8])
    sizes = tensor_sizes(h, w, c, filters, dense)
    n_weights = sum(sizes)
    hlen = (136 + 4 * len(sizes) + 15) // 16 * 16
    head = bytearray(hlen)
    head[0:8] = b"XRAYCNN\0"
    struct.pack_into("<6I", head, 8, 1, hlen, h, w, c, len(filters))
    struct.pack_into("<6I", head, 32, *(filters + [0] * (6 - len(filters))))
    struct.pack_into("<2I", head, 56, dense, len(sizes))
    struct.pack_into("<Q", head, 64, 4 * n_weights)
    head[104:104 + len(version)] = version
    struct.pack_into("<%dI" % len(sizes), head, 136, *sizes)
    weights = bytearray(4 * n_weights)
    struct.pack_into("<f", weights, 4 * (n_weights - 1), math.log(p / (1 - p)))
    data = bytes(head) + bytes(weights)
    digest = hashlib.sha256(data).digest()  # checksum field is still zero
    data = data[:72] + digest + data[104:]
    open(out, "wb").write(data)
    print(hashlib.sha256(data).hexdigest())


main()
