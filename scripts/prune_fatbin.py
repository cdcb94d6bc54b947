"""Zeroes, in place, the GPU code of every architecture but one in a shared library's
.nv_fatbin section, as NVIDIA's nvprune does for object files: the CUDA driver loads only
the code for the GPU's own architecture, and zeroed code compresses to nothing, so the
library travels at a fraction of its size. Kernels with no code for that architecture are
left whole.

    python scripts/prune_fatbin.py --arch 90 libonnxruntime_providers_cuda.so
"""

import argparse
import struct
import subprocess

FATBIN_MAGIC = 0xBA55ED50


def section(path, name):
    """(file offset, size) of the ELF section `name`, from readelf."""
    for line in subprocess.run(["readelf", "-S", "-W", path], check=True, capture_output=True, text=True).stdout.splitlines():
        fields = line.replace("[", " ").replace("]", " ").split()
        if name in fields:
            i = fields.index(name)
            return int(fields[i + 3], 16), int(fields[i + 4], 16)
    raise SystemExit(f"{path}: no {name} section")


def entries(data, start, end):
    """(payload offset, payload size, architecture) of each entry of each fat binary."""
    pos = start
    while pos < end - 16:
        magic, _version, header, size = struct.unpack_from("<IHHQ", data, pos)
        if magic != FATBIN_MAGIC:
            pos += 8  # fat binaries are 8-byte aligned
            continue
        entry, last = pos + header, pos + header + size
        found = []
        while entry < last:
            _kind, _flags, entry_header, payload = struct.unpack_from("<HHIQ", data, entry)
            arch = struct.unpack_from("<I", data, entry + 28)[0]
            found.append((entry + entry_header, payload, arch))
            entry += entry_header + payload
        yield found
        pos = last


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", type=int, required=True, help="the architecture to keep, e.g. 90 for sm_90")
    parser.add_argument("library")
    args = parser.parse_args()
    data = bytearray(open(args.library, "rb").read())
    offset, size = section(args.library, ".nv_fatbin")
    zeroed = kept = 0
    for binary in entries(data, offset, offset + size):
        if not any(arch == args.arch for _, _, arch in binary):
            kept += sum(n for _, n, _ in binary)
            continue
        for start, n, arch in binary:
            if arch != args.arch:
                data[start:start + n] = bytes(n)
                zeroed += n
    open(args.library, "wb").write(data)
    print(f"{args.library}: zeroed {zeroed / 1e6:.1f} MB of code for other architectures; "
          f"{kept / 1e6:.1f} MB of kernels without sm_{args.arch} code left whole")


if __name__ == "__main__":
    main()
