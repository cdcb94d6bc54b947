//! Inputs in GDAL's virtual file systems: a COG served over HTTP with range requests (a
//! loopback server of Python's standard library, as object storage serves one) read through
//! `/vsicurl/`, and rasters inside a zip read through `/vsizip/`, by `info`, `train
//! spectral`, `fuse` and a `run` job, with the same results as from the local files.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use hypersynth_data::Cube;

use crate::support::{TestDir, python_check, run_json, sample};

/// A loopback HTTP server of `folder` that answers range requests (`http.server` alone
/// does not); prints its port.
const SERVER: &str = r#"
import http.server, os, re, sys
class Ranges(http.server.SimpleHTTPRequestHandler):
    def send_head(self):
        path, asked = self.translate_path(self.path), self.headers.get("Range")
        if not asked or not os.path.isfile(path):
            return super().send_head()
        size = os.path.getsize(path)
        start, end = re.match(r"bytes=(\d+)-(\d*)", asked).groups()
        start, end = int(start), min(int(end) if end else size - 1, size - 1)
        self.send_response(206)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if self.command == "GET":
            with open(path, "rb") as f:
                f.seek(start)
                self.wfile.write(f.read(end - start + 1))
        return None
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a, **k: Ranges(*a, directory=sys.argv[1], **k))
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

/// The server, stopped when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn serve(t: &TestDir, folder: &str) -> Self {
        let python = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
        let mut child = Command::new(python)
            .arg("-c")
            .arg(SERVER)
            .arg(t.join(folder))
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the loopback HTTP server");
        let mut port = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut port).unwrap();
        Self { child, url: format!("/vsicurl/http://127.0.0.1:{}", port.trim()) }
    }

    fn path(&self, name: &str) -> String {
        format!("{}/{name}", self.url)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn vsicurl_and_vsizip_inputs_go_to_gdal_as_they_are_and_give_what_local_files_give() {
    let t = TestDir::new();
    std::fs::create_dir(t.join("srv")).unwrap();
    for name in ["salinasA.tif", "salinasA_gt.tif"] {
        std::fs::copy(sample(name), t.join("srv").join(name)).unwrap();
    }
    let server = Server::serve(&t, "srv");
    let (cube, labels) = (server.path("salinasA.tif"), server.path("salinasA_gt.tif"));

    let info = t.run(&["info", &cube]);
    t.ok(&info);
    assert!(info.stdout.contains("83 rows x 86 cols x 204 bands"), "{}", info.stdout);
    // GDAL's own error for a file the server does not have, in one line naming the path.
    let missing = server.path("missing.tif");
    t.refused(&t.run(&["info", &missing]), &missing, "");

    // Training from the server and from the local copies: the same model, and the run
    // record hashes the remote inputs (through GDAL) to the local files' SHA-256.
    let classes = sample("classes.csv");
    let train = |cube: &str, labels: &str, out: &str| {
        t.ok(&t.run(&[
            "train",
            "spectral",
            "--cube",
            cube,
            "--labels",
            labels,
            "--classes",
            &classes,
            "--thin",
            "1=25",
            "--out",
            out,
            "-q",
        ]));
    };
    train(&cube, &labels, "remote.onnx");
    train(&t.join("srv/salinasA.tif").display().to_string(), &t.join("srv/salinasA_gt.tif").display().to_string(), "local.onnx");
    let (remote, local) = (run_json(&t.join("remote.run.json")), run_json(&t.join("local.run.json")));
    assert_eq!(remote["inputs"][0]["path"], cube.as_str());
    for i in 0..2 {
        assert_eq!(remote["inputs"][i]["sha256"], local["inputs"][i]["sha256"], "input {i}");
    }
    let sha = python_check(
        "import sys, hashlib\nprint(hashlib.sha256(open(sys.argv[1], 'rb').read()).hexdigest())",
        &[&t.join("srv/salinasA.tif")],
    );
    assert_eq!(remote["inputs"][0]["sha256"], sha.as_str());
    assert!(std::fs::read(t.join("remote.onnx")).unwrap() == std::fs::read(t.join("local.onnx")).unwrap(), "the models differ");

    // fuse reads both scenes from the server.
    let meta = Cube::open(sample("salinasA.tif")).unwrap().meta().clone();
    let gt = hypersynth_data::ClassRaster::read(std::path::Path::new(&sample("salinasA_gt.tif")), &meta, None).unwrap();
    crate::support::write_uint8_raster(&t.join("target.tif"), &meta, &gt.ids.mapv(|id| u8::from(id == 1)));
    let local_cube = sample("salinasA.tif");
    t.ok(&t.run(&[
        "train",
        "pix2pix",
        "--pre",
        &local_cube,
        "--post",
        &local_cube,
        "--target",
        "target.tif",
        "--out",
        "dmg.onnx",
        "--steps",
        "1",
        "-q",
    ]));
    let fuse = |scene: &str, out: &str| {
        t.ok(&t.run(&[
            "fuse",
            "--model",
            "dmg.onnx",
            "--pre",
            scene,
            "--post",
            scene,
            "--out",
            out,
            "--tile",
            "32",
            "--overlap",
            "8",
            "-q",
        ]));
    };
    fuse(&cube, "remote.tif");
    fuse(&local_cube, "local.tif");
    let read = |name: &str| Cube::open(t.join(name)).unwrap().read(meta.full_window()).unwrap().data;
    assert_eq!(read("remote.tif"), read("local.tif"));

    // A nightly job whose scene lives on the server.
    let job = format!(
        "output = \"out\"\n[[scene]]\npath = \"{cube}\"\nlabels = \"{labels}\"\nclasses = \"{classes}\"\n[train]\n[augment]\ntarget_per_class = 1000\nreport = false\n"
    );
    std::fs::write(t.join("job.toml"), job).unwrap();
    t.ok(&t.run(&["run", "job.toml", "-q"]));
    let summary = std::fs::read_to_string(t.join("out/job-summary.json")).unwrap();
    assert!(summary.contains("\"done\""), "{summary}");

    // A raster inside a zip, through /vsizip/.
    python_check(
        "import sys, zipfile\nwith zipfile.ZipFile(sys.argv[1], 'w') as z:\n    z.write(sys.argv[2], 'scene/salinasA.tif')\n    z.write(sys.argv[3], 'scene/salinasA_gt.tif')\nprint('ok')",
        &[&t.join("s.zip"), &t.join("srv/salinasA.tif"), &t.join("srv/salinasA_gt.tif")],
    );
    let zipped = |name: &str| format!("/vsizip/{}/scene/{name}", t.join("s.zip").display());
    let info = t.run(&["info", &zipped("salinasA.tif")]);
    t.ok(&info);
    assert!(info.stdout.contains("204 bands"), "{}", info.stdout);
    train(&zipped("salinasA.tif"), &zipped("salinasA_gt.tif"), "zipped.onnx");
    assert!(std::fs::read(t.join("zipped.onnx")).unwrap() == std::fs::read(t.join("local.onnx")).unwrap(), "the models differ");
}
