"""Copies ONNX Runtime's shared libraries (onnxruntime/capi/lib*.so*) out of the
onnxruntime or onnxruntime-gpu wheel in WHEEL_DIR into DEST.

    python scripts/unpack_ort_wheel.py WHEEL_DIR DEST
"""

import pathlib
import sys
import zipfile

wheel = next(pathlib.Path(sys.argv[1]).glob("onnxruntime*.whl"))
dest = pathlib.Path(sys.argv[2])
dest.mkdir(parents=True, exist_ok=True)
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith("onnxruntime/capi/lib") and ".so" in name:
            (dest / pathlib.Path(name).name).write_bytes(z.read(name))
