"""The Python way of `hypersynth augment --no-report`, for bench/synthesis.sh: the same
generator through onnxruntime, the same number of spectra per class as hypersynth made
(read from its run record), numpy for the noise, tifffile for the cube, pyarrow for the
two Parquet files (synthetic rows; real labelled rows + synthetic rows) compressed with
CODEC (pyarrow's name: zstd, lz4, snappy, none), as hypersynth's.

    python bench/python_augment.py MODEL CUBE LABELS HYPERSYNTH_RUN_JSON OUT_DIR BATCH CODEC

Prints four numbers: seconds end to end, seconds inside onnxruntime's run(), seconds
writing the two tables, and the synthetic spectra made.
"""
import json
import sys
import time

import numpy as np
import onnxruntime as ort
import pyarrow as pa
import pyarrow.parquet as pq
import tifffile

model, cube_path, labels_path, run_json, out_dir, batch, codec = sys.argv[1:8]
batch = int(batch)
start = time.perf_counter()
session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
meta = session.get_modelmeta().custom_metadata_map
classes = json.loads(meta["hypersynth.classes"])
wavelengths = json.loads(meta["hypersynth.wavelengths_nm"])
z_width = session.get_inputs()[0].shape[1]
generated = {int(k): v for k, v in json.load(open(run_json))["details"]["generated"].items()}

rng = np.random.default_rng(0)
parts, ids, onnx_seconds = [], [], 0.0
for index, c in enumerate(classes):
    n = generated.get(c["id"], 0)
    for first in range(0, n, batch):
        b = min(batch, n - first)
        z = rng.standard_normal((b, z_width), dtype=np.float32)
        t = time.perf_counter()
        out = session.run(None, {"z": z, "class_index": np.full(b, index, np.int64)})[0]
        onnx_seconds += time.perf_counter() - t
        parts.append(out)
        ids.append(np.full(b, c["id"], np.int32))
synthetic = np.concatenate(parts)
synthetic_ids = np.concatenate(ids)

cube = tifffile.imread(cube_path)            # [bands, rows, cols] as GDAL wrote it
if cube.shape[0] != len(wavelengths):
    cube = np.moveaxis(cube, -1, 0)
labels = tifffile.imread(labels_path)
mask = labels > 0
real = cube[:, mask].T.astype(np.float32)
real_ids = labels[mask].astype(np.int32)


def write(path, spectra, class_ids, source):
    columns = {"class_id": class_ids, "source": np.full(len(class_ids), source)}
    for b, w in enumerate(wavelengths):
        columns[f"band_{w:.2f}nm"] = spectra[:, b]
    pq.write_table(pa.table(columns), path, compression=codec)


t = time.perf_counter()
write(f"{out_dir}/synthetic.parquet", synthetic, synthetic_ids, "synthetic")
write(f"{out_dir}/augmented.parquet", np.concatenate([real, synthetic]), np.concatenate([real_ids, synthetic_ids]), "mixed")
write_seconds = time.perf_counter() - t
print(time.perf_counter() - start, onnx_seconds, write_seconds, len(synthetic))
