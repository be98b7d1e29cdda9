#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz harnesses (corpus/<harness>/): small valid files of each
format and broken ones next to them. Rerun after a format change; fuzzers start from these."""
import gzip
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def put(harness, name, data):
    folder = os.path.join(HERE, "corpus", harness)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# --- CSV ---------------------------------------------------------------------------------------
put("csv", "header_and_label.csv", "a,b,label\n1.5,2,0\n-3,4e-2,1\n0,0,2\n")
put("csv", "no_header.csv", "1,2,3\n4,5,6\n")
put("csv", "semicolons.csv", "x;y;z\n1;2;0\n3;4;1\n")
put("csv", "crlf_blank_lines.csv", "a,b\r\n1,0\r\n\r\n2,1\r\n\r\n")
put("csv", "ragged.csv", "1,2,3\n4,5\n")
put("csv", "not_a_number.csv", "1,2,0\n1,x,1\n")
put("csv", "nan_inf.csv", "1,nan,0\ninf,2,1\n")
put("csv", "bad_label.csv", "1,2,-1\n1,2,0.5\n")
put("csv", "empty_cells.csv", ",,\n1,,0\n")
put("csv", "header_only.csv", "a,b,c\n")
put("csv", "quoted.csv", '"a","b"\n"1","0"\n')

# --- IDX ---------------------------------------------------------------------------------------
def idx(dims, data, type_code=0x08):
    return bytes([0, 0, type_code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + bytes(data)

images = idx([2, 2, 3], range(12))
labels = idx([2], [1, 0])
put("idx", "images.idx", images)
put("idx", "labels.idx", labels)
put("idx", "images.idx.gz", gzip.compress(images, mtime=0))
put("idx", "labels.idx.gz", gzip.compress(labels, mtime=0))
put("idx", "truncated_body.idx", images[:-3])
put("idx", "truncated_header.idx", images[:9])
put("idx", "trailing_data.idx", labels + b"\x07")
put("idx", "wrong_type.idx", idx([2], [1, 0], type_code=0x0D))
put("idx", "rank_zero.idx", bytes([0, 0, 8, 0]))
put("idx", "huge_dims.idx", idx([0xFFFFFFFF, 0xFFFFFFFF], []))
put("idx", "truncated.idx.gz", gzip.compress(images, mtime=0)[:-6])
put("idx", "zero_images.idx", idx([0, 28, 28], []))

# --- model files -------------------------------------------------------------------------------
def string(s):
    return struct.pack("<I", len(s)) + s.encode()

def floats(values):
    return struct.pack("<%df" % len(values), *values)

# layers: (units, activation) or, from version 2 on, (units, activation, dropout rate).
def model(inputs, layers, loss, standardizer=None, checkpoint=None, version=1):
    body = b"MLPKMODL" + struct.pack("<III", version, inputs, len(layers))
    for units, activation, *rate in layers:
        body += struct.pack("<I", units) + string(activation)
        if version >= 2:
            body += floats(rate or [0.0])
    body += string(loss)
    if standardizer is None:
        body += b"\x00"
    else:
        mean, std = standardizer
        body += b"\x01" + struct.pack("<I", len(mean)) + floats(mean) + floats(std)
    count, fan_in = 0, inputs
    for units, *_ in layers:
        count += fan_in * units + units
        fan_in = units
    params = [((i * 7) % 11 - 5) / 10 for i in range(count)]
    body += struct.pack("<Q", count) + floats(params)
    if checkpoint is None:
        body += b"\x00"
    else:
        optimizer, arrays = checkpoint
        body += b"\x01" + string(optimizer) + struct.pack("<QI", 3, arrays)
        for _ in range(arrays):
            body += struct.pack("<Q", count) + floats([0.25] * count)
        body += struct.pack("<QQ", 2, 0x9E3779B97F4A7C15)
        if version >= 2:
            body += struct.pack("<Q", 7)  # the dropout seed
    return body + struct.pack("<I", zlib.crc32(body))

xor = model(2, [(3, "relu"), (2, "softmax")], "softmax-ce")
put("model_file", "xor.mlpk", xor)
put("model_file", "regression.mlpk", model(3, [(1, "identity")], "mse", standardizer=([0.5, 1, 2], [1, 1, 0.5])))
put("model_file", "checkpoint_sgd.mlpk", model(2, [(2, "tanh"), (1, "sigmoid")], "sigmoid-bce", checkpoint=("sgd", 0)))
put("model_file", "checkpoint_adam.mlpk", model(2, [(4, "gelu"), (2, "softmax")], "softmax-ce", checkpoint=("adam", 2)))
put("model_file", "checkpoint_momentum.mlpk", model(1, [(2, "leaky-relu"), (1, "identity")], "mse", checkpoint=("momentum", 1)))
put("model_file", "bad_crc.mlpk", xor[:-1] + bytes([xor[-1] ^ 1]))
put("model_file", "truncated.mlpk", xor[:30])
put("model_file", "wrong_magic.mlpk", b"MLPKMODX" + xor[8:])
put("model_file", "version_3.mlpk", model(2, [(2, "softmax")], "softmax-ce", version=3))
put("model_file", "dropout.mlpk", model(2, [(4, "relu", 0.25), (3, "tanh", 0.5), (2, "softmax")], "softmax-ce", version=2))
put("model_file", "checkpoint_dropout.mlpk",
    model(2, [(4, "gelu", 0.1), (2, "softmax")], "softmax-ce", checkpoint=("adam", 2), version=2))
put("model_file", "dropout_on_output.mlpk", model(2, [(3, "relu"), (2, "softmax", 0.5)], "softmax-ce", version=2))
put("model_file", "dropout_rate_one.mlpk", model(2, [(3, "relu", 1.0), (2, "softmax")], "softmax-ce", version=2))
put("model_file", "bad_activation.mlpk", model(2, [(2, "swish")], "mse"))
put("model_file", "standardizer_width_differs.mlpk", model(2, [(1, "identity")], "mse", standardizer=([1], [1])))

# --- --layers strings (line 1: layers, line 2: hidden activation, line 3: loss) ----------------
for i, text in enumerate(["784-256-128-10", "2-3-2\ntanh\nsoftmax-ce", "4-1\nrelu\nmse",
                          "3-1\ngelu\nsigmoid-bce", "10", "10--2", "-5-2", "0-3", "3-0",
                          "18446744073709551616-2", "2-3-", "1-2-3\nleaky_relu", "a-b", " 2-3",
                          "2-3\nnot-an-activation\nno-loss", "784-512:0.2-256:0.1-10", "4-3:1-2",
                          "4-3:nan-2", "4:0.5-2", "4-3-2:0.5", "4-3:-2", "4-3:0.1:0.2-2"]):
    put("layers", "layers_%02d.txt" % i, text)

# --- backend specs -----------------------------------------------------------------------------
for i, text in enumerate(["reference", "highway", "highway:AVX2", "highway:AVX3", "highway:EMU128",
                          "highway:NEON", "onednn", "onednn:threads=2", "onednn:threads=0",
                          "onednn:threads=2,gemm=sgemm,dense=matmul", "onednn:gemm=bogus",
                          "onednn:threads=99999999999", "reference:x", "", ":", "nosuch:AVX2",
                          "onednn:threads=2,", "HIGHWAY"]):
    put("backend_spec", "spec_%02d.txt" % i, text)
