#!/usr/bin/python3
"""Independent reference for the x-ray CNN (tests only).

Reads a model file straight from the format described in docs/xray-worker.md
(not through the C code), checks its checksum with hashlib, runs the forward
pass in float64 numpy and prints "<p> <logit>".

usage: cnn_ref.py MODEL INPUT.f32   (INPUT: H*W*C little-endian float32, HWC)
"""
import hashlib
import struct
import sys

import numpy as np


def load(path):
    b = open(path, "rb").read()
    assert b[:8] == b"XRAYCNN\0", "magic"
    fmt, hlen, h, w, c, n_conv = struct.unpack_from("<6I", b, 8)
    assert fmt == 1
    filters = struct.unpack_from("<6I", b, 32)[:n_conv]
    dense, n_tensors = struct.unpack_from("<2I", b, 56)
    (wlen,) = struct.unpack_from("<Q", b, 64)
    assert len(b) == hlen + wlen, "length"
    zeroed = b[:72] + bytes(32) + b[104:]
    assert hashlib.sha256(zeroed).digest() == b[72:104], "checksum"
    sizes = struct.unpack_from("<%dI" % n_tensors, b, 136)
    flat = np.frombuffer(b, dtype="<f4", offset=hlen).astype(np.float64)
    tensors, pos = [], 0
    for n in sizes:
        tensors.append(flat[pos:pos + n])
        pos += n
    assert pos == flat.size
    return (h, w, c), filters, dense, tensors


def conv3x3_relu(x, wt, bias):
    # x: (H, W, C); wt: (F, 3, 3, C) -> (H-2, W-2, F), valid padding
    win = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(0, 1))
    # win: (H-2, W-2, C, 3, 3)
    y = np.einsum("hwcij,fijc->hwf", win, wt) + bias
    return np.maximum(y, 0.0)


def maxpool2(x):
    h, w, c = x.shape
    x = x[: h // 2 * 2, : w // 2 * 2]
    return x.reshape(h // 2, 2, w // 2, 2, c).max(axis=(1, 3))


def main():
    (h, w, c), filters, dense, t = load(sys.argv[1])
    x = np.fromfile(sys.argv[2], dtype="<f4").astype(np.float64).reshape(h, w, c)
    cin = c
    for i, f in enumerate(filters):
        wt = t[2 * i].reshape(f, 3, 3, cin)
        x = maxpool2(conv3x3_relu(x, wt, t[2 * i + 1]))
        cin = f
    v = x.reshape(-1)
    w1 = t[2 * len(filters)].reshape(dense, v.size)
    hid = np.maximum(w1 @ v + t[2 * len(filters) + 1], 0.0)
    z = float(hid @ t[2 * len(filters) + 2] + t[2 * len(filters) + 3][0])
    p = 1.0 / (1.0 + np.exp(-z))
    print("%.12g %.12g" % (p, z))


main()
