"""Hostile files, built small on disk, and the peak memory of a child Python that meets one.

Each bomb's header (or, for CSV, its text) claims far more than MAX_ARRAY_BYTES; each also holds a few hundred
MiB of real zeros behind that claim, compressed to under 2 MB and written in a second or less, so that a reader
which trusted the claim would be caught by its peak memory, not only by its error line.
"""
import gzip
import io
import struct
import subprocess
import sys
import textwrap
import zipfile

import numpy as np

from conftest import ROOT

BOMB_SHAPE = (20_000_000, 28, 28)  # 15.7 GB of uint8 pixels
REAL_MIB = 256  # MiB of zeros each bomb really holds: more than PEAK_LIMIT_MB, so a trusting reader fails the test
PEAK_LIMIT_MB = 200  # what a refusal may cost, the Python interpreter, NumPy and pandas included
ZEROS = bytes(1 << 20)


def npz_bomb(path, shape=BOMB_SHAPE, mib=REAL_MIB):
    """An .npz whose `features` header declares `shape` of uint8 and holds `mib` MiB of zeros, and a small `target`:
    NumPy would allocate what the header says, then fill it as far as the data goes."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("features.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(member, {"descr": "|u1", "fortran_order": False, "shape": shape})
            for _ in range(mib):
                member.write(ZEROS)
        target = io.BytesIO()
        np.save(target, np.zeros(3, dtype=np.int64))
        archive.writestr("target.npy", target.getvalue())


def gzip_member_of_zeros():
    """1 MiB of zeros as one gzip member (1 KB): written many times over, a stream that gzip.decompress reads whole."""
    return gzip.compress(ZEROS)


def gzip_idx_bomb(path, shape=BOMB_SHAPE, mib=REAL_MIB):
    """A gzip IDX image file whose header declares `shape` and whose stream holds `mib` MiB of zeros after it."""
    member = gzip_member_of_zeros()
    with open(path, "wb") as handle:
        handle.write(gzip.compress(struct.pack(">4I", 0x00000803, *shape)))
        for _ in range(mib):
            handle.write(member)


CSV_HEADER = "label," + ",".join(f"pixel{index}" for index in range(784)) + "\n"


def csv_gz_bomb(path, mib=2 * REAL_MIB):
    """A gzip CSV file of a header and `mib` MiB of rows of zeros (785 values a row), 1 MiB a gzip member."""
    rows = "0," * 784 + "0\n"
    block = (rows * ((1 << 20) // len(rows))).encode()
    member = gzip.compress(block)
    with open(path, "wb") as handle:
        handle.write(gzip.compress(CSV_HEADER.encode()))
        for _ in range(mib):
            handle.write(member)


def sparse_csv_bomb(path, size=(1 << 31) + (1 << 20)):
    """A CSV file of a header and then `size` zero bytes that take no disk (a sparse file): one endless cell."""
    with open(path, "wb") as handle:
        handle.write(CSV_HEADER.encode())
        handle.truncate(size)


# The child's own peak memory, in MB. Not ru_maxrss: Linux carries it over an exec from the process that forked,
# so a child of a large pytest process would report the parent's peak. VmHWM belongs to the child's own memory map.
PEAK_MB = "int(next(line for line in open('/proc/self/status') if line.startswith('VmHWM:')).split()[1]) // 1024"


def refusal_and_peak(call):
    """(the `error:` line, peak memory in MB) of a child Python that runs `call` (Python source, here imported from
    the project) and reports its PipelineError as the commands do."""
    script = textwrap.dedent(f"""
        from pipeline.runtime.errors import PipelineError, print_error
        try:
            {call}
        except PipelineError as error:
            print_error(error)
        print({PEAK_MB})
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    lines = result.stderr.strip().splitlines()
    return (lines[-1] if lines else ""), int(result.stdout.split()[-1])


def yaml_bomb(levels=9, width=9, merge=False):
    """YAML of `levels` anchors, each holding the one before `width` times: 9 x 9 is ~500 bytes that expand to 9**9 =
    387 million values. With `merge`, mappings that merge the one before (`<<: [*l0, ...]`), as recipes.yaml may."""
    if merge:
        lines = ["l0: &l0 {epochs: 1}"] + [f"l{level}: &l{level} {{<<: [" + ", ".join([f"*l{level - 1}"] * width)
                                           + "]}" for level in range(1, levels + 1)]
    else:
        lines = ["l0: &l0 [lol]"] + [f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * width) + "]"
                                     for level in range(1, levels + 1)]
    return "\n".join(lines) + "\n"
