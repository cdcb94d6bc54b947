//! Tiled inference over whole scenes: a grid of fixed-size overlapping tiles, reflected
//! reads at the scene's edges, batches of tiles for the model, and a smooth blending window
//! that weights each tile's output down towards its borders so that no seams show where
//! tiles meet.
//!
//! The grid starts `overlap / 2` pixels before the scene's first row and column, so edge
//! pixels get (reflected) context like interior ones. Tiles go to the model in raster
//! order, `batch` at a time (a batch may span tile rows, so every batch but the last is
//! full and has one shape). Outputs are accumulated in a strip of rows that moves down the
//! scene: rows no later tile touches are finished and handed to the writer, so memory
//! does not follow the scene's height.
//!
//! Nor its width: a scene whose rows of tiles would hold more than [`STRIPE_BYTES`] is run
//! in column stripes ([`Stripe`]), each a pass of its own from top to bottom over some of
//! the tile columns. Neighbouring stripes share no tile; where their edge tiles overlap,
//! the left stripe's blending sums go to the right one through a temporary file
//! ([`SeamWriter`]), so every pixel is blended from the same tiles as in one pass. What
//! striping costs: the file blocks under a seam are decoded by both stripes.
//!
//! Each source is read in file-block order: the rows a row of tiles needs, rounded out to
//! whole rows of file blocks, in the file's own sample type, in column chunks a few file
//! blocks wide (one per GDAL decoding thread, [`HeldChunk`]), so that GDAL decodes every
//! block once, on all its threads, without converting. Tiles are cut from those rows,
//! normalised in the same pass.
//!
//! Three threads share the work. The calling thread reads the chunks, left to right, and
//! hands each to a cutting thread as soon as it is read; the cutting thread cuts each
//! tile once the chunks under it are in (so cutting overlaps reading the next chunk),
//! fills batches and hands each chunk back once the row's tiles are past it; a model
//! thread runs each batch, blends its outputs and writes finished rows. Two batch buffers
//! exist: the cutting thread waits for the model thread to give one back only when it has
//! filled the other.

use std::ops::Range;
use std::sync::mpsc::{Receiver, Sender};

use anyhow::{Context, Result, bail};
use hypersynth_data::{Cube, CubeMeta, StoredPlanes, Window};
use hypersynth_onnx::Device;
use indicatif::ProgressBar;
use ndarray::{Array2, Array3, Array4, ArrayView2, ArrayView3, ArrayView4, ArrayViewMut2, ArrayViewMut3, Axis, Zip, s};

/// Default tiles per ONNX Runtime call of `fuse` and `super-resolve` on `device` (command
/// line and job file): 1 on the CPU, where a bigger batch gains nothing but memory (two
/// batch buffers and ONNX Runtime's activations, which on a 2-core machine cost more to
/// fault in than the batch saves); 4 on a GPU, to keep it fed.
pub fn default_batch(device: Device) -> usize {
    if device.is_gpu() { 4 } else { 1 }
}

/// Overlapping square tiles covering a scene.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TileGrid {
    /// Tile side in pixels.
    pub tile: usize,
    /// Pixels shared by neighbouring tiles.
    pub overlap: usize,
    /// Scene rows.
    pub rows: usize,
    /// Scene columns.
    pub cols: usize,
}

impl TileGrid {
    /// The grid for a `rows` x `cols` scene; `overlap` must be smaller than half the tile.
    pub fn new(rows: usize, cols: usize, tile: usize, overlap: usize) -> Result<Self> {
        if tile == 0 || 2 * overlap >= tile {
            bail!("the tile overlap ({overlap} pixels) must be less than half the tile side ({tile} pixels)");
        }
        Ok(Self { tile, overlap, rows, cols })
    }

    fn step(&self) -> usize {
        self.tile - self.overlap
    }

    /// First rows (or columns) of the tiles along a side of `len` pixels: from
    /// `-overlap / 2` in steps of `tile - overlap` until the tiles reach `overlap / 2` past
    /// the end.
    fn starts(&self, len: usize) -> Vec<isize> {
        let (tile, step, margin) = (self.tile as isize, self.step() as isize, (self.overlap / 2) as isize);
        let mut starts = vec![-margin];
        while starts[starts.len() - 1] + tile < len as isize + margin {
            starts.push(starts[starts.len() - 1] + step);
        }
        starts
    }

    /// First rows of the tile rows, top to bottom.
    pub fn row_starts(&self) -> Vec<isize> {
        self.starts(self.rows)
    }

    /// First columns of the tiles in a row, left to right.
    pub fn col_starts(&self) -> Vec<isize> {
        self.starts(self.cols)
    }

    /// The number of tiles.
    pub fn len(&self) -> usize {
        self.row_starts().len() * self.col_starts().len()
    }

    /// Whether the grid has no tiles (an empty scene).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The blending weight of each tile pixel: `sin²` ramps from near 0 to 1 over
    /// `overlap` pixels at each border, 1 inside, separable in rows and columns. Weights
    /// never reach 0, so a pixel covered by one tile only keeps that tile's value.
    pub fn weights(&self) -> Array2<f32> {
        let ramp: Vec<f32> = (0..self.tile)
            .map(|i| {
                let from_edge = i.min(self.tile - 1 - i) as f64 + 0.5;
                if self.overlap == 0 || from_edge >= self.overlap as f64 {
                    1.0
                } else {
                    (std::f64::consts::FRAC_PI_2 * from_edge / self.overlap as f64).sin().powi(2) as f32
                }
            })
            .collect();
        Array2::from_shape_fn((self.tile, self.tile), |(r, c)| ramp[r] * ramp[c])
    }
}

/// Index `i` of a side of `n` pixels mirrored at the ends (`-1` is `1`, `n` is `n - 2`),
/// as often as needed when the side is shorter than the reach.
pub fn reflect(i: isize, n: usize) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * (n as isize - 1);
    let j = i.rem_euclid(period);
    (if j < n as isize { j } else { period - j }) as usize
}

/// A scene whose bands feed a model, with the normalisation the model's card gives them:
/// `normalised = (physical - offset) / scale`, per band.
pub struct TileSource<'a> {
    /// The scene.
    pub cube: &'a Cube,
    /// Per band.
    pub offset: &'a [f64],
    /// Per band.
    pub scale: &'a [f64],
}

/// File blocks taller than this many tiles are not read whole (see [`HeldChunk::new`]).
const MAX_BLOCK_TILES: usize = 4;

/// The rows of a source that the current row of tiles reads, over one chunk of its columns
/// ([`Cube::read_chunk_cols`] wide, from column 0): stored values band by band in the
/// file's own type. They are read in whole file blocks and kept until no later row of
/// tiles needs them, so each scene row is read once. The reading thread fills a chunk,
/// then hands it to the cutting thread, which cuts tiles from the chunks it has while the
/// next chunk is read, and hands each chunk back once the row's tiles are past it.
struct HeldChunk {
    /// Which source.
    source: usize,
    /// Scene columns `col0..col0 + cols`.
    col0: usize,
    cols: usize,
    /// Rows each read is rounded out to (see [`HeldChunk::new`]).
    block: usize,
    /// Rows each band plane has room for.
    capacity: usize,
    /// Scene rows `first..end` are held, row `first` at the top of each plane.
    first: usize,
    end: usize,
    /// `[bands, capacity, cols]`.
    stored: StoredPlanes,
    /// `[capacity, cols]`: the pixel has data in every good band.
    valid: Vec<bool>,
}

impl HeldChunk {
    /// Room for the rows a tile of `tile` rows needs and the rest of the file block the
    /// last of them lies in, over scene columns `cols`. Reads are rounded out to the
    /// file's block height, unless its blocks are taller than [`MAX_BLOCK_TILES`] tiles (a
    /// GeoTIFF stored as one strip): their rows are read as needed, so memory never holds
    /// the whole scene.
    fn new(cube: &Cube, source: usize, cols: Range<usize>, tile: usize) -> Self {
        let meta = cube.meta();
        let (block, capacity) = Self::rows(cube, tile);
        let width = cols.len();
        Self {
            source,
            col0: cols.start,
            cols: width,
            block,
            capacity,
            first: 0,
            end: 0,
            stored: StoredPlanes::for_type(meta.dtype, meta.bands * capacity * width),
            valid: vec![true; capacity * width],
        }
    }

    /// The rows reads are rounded out to and the rows held, for tiles of `tile` rows.
    fn rows(cube: &Cube, tile: usize) -> (usize, usize) {
        let block = Some(cube.block_rows()).filter(|&b| b <= MAX_BLOCK_TILES * tile).unwrap_or(1);
        (block, (tile + block - 1).min(cube.meta().rows).max(1))
    }

    /// Bytes a chunk of `cube` holds per scene column, for tiles of `tile` rows.
    fn bytes_per_col(cube: &Cube, tile: usize) -> usize {
        let meta = cube.meta();
        Self::rows(cube, tile).1 * (meta.bands * StoredPlanes::value_bytes(meta.dtype) + 1)
    }

    /// Values per band plane.
    fn plane(&self) -> usize {
        self.capacity * self.cols
    }

    /// Where scene row `r` (held) lies in a band plane and in `valid`.
    fn row_range(&self, r: usize) -> Range<usize> {
        (r - self.first) * self.cols..(r - self.first + 1) * self.cols
    }

    /// Holds scene rows `from..to` (and maybe more below): drops the rows above `from`,
    /// then reads the rows missing, up to the end of the file block that row `to - 1` lies
    /// in, in one read.
    fn hold(&mut self, cube: &Cube, from: usize, to: usize) -> Result<()> {
        let meta = cube.meta();
        if from < self.first {
            bail!("rows are read top to bottom; row {from} lies above the rows held ({} on)", self.first);
        }
        let (cols, plane) = (self.cols, self.plane());
        if from >= self.end {
            (self.first, self.end) = (from, from);
        } else if from > self.first {
            let (drop, kept) = (from - self.first, self.end - from);
            for b in 0..meta.bands {
                self.stored.copy_within(b * plane + drop * cols..b * plane + (drop + kept) * cols, b * plane);
            }
            self.valid.copy_within(drop * cols..(drop + kept) * cols, 0);
            self.first = from;
        }
        if self.end >= to {
            return Ok(());
        }
        let end = to.next_multiple_of(self.block).min(meta.rows);
        let (at, rows) = (self.end - self.first, end - self.end);
        if at + rows > self.capacity {
            bail!("scene rows {}..{end} do not fit the {} rows held for a tile", self.first, self.capacity);
        }
        let window = Window { row: self.end, col: self.col0, rows, cols };
        cube.read_stored_planes(window, &mut self.stored, at * cols, plane)?;
        let new = at * cols..(at + rows) * cols;
        self.valid[new.clone()].fill(true);
        if meta.nodata.is_some() {
            let valid = &mut self.valid[new.clone()];
            match &self.stored {
                StoredPlanes::UInt8(v) => clear_voids(meta, v, plane, new, valid),
                StoredPlanes::Int16(v) => clear_voids(meta, v, plane, new, valid),
                StoredPlanes::UInt16(v) => clear_voids(meta, v, plane, new, valid),
                StoredPlanes::Float32(v) => clear_voids(meta, v, plane, new, valid),
            }
        }
        self.end = end;
        Ok(())
    }
}

/// How a source is cut into tiles: its metadata, the card's normalisation and its column
/// chunks ([`HeldChunk`]), as the cutting thread has them (`None`: being read, or not yet).
struct HeldSource<'a> {
    meta: &'a CubeMeta,
    offset: &'a [f64],
    scale: &'a [f64],
    /// Chunk `k` holds scene columns `k * chunk_cols..(k + 1) * chunk_cols`, clipped to `read`.
    chunk_cols: usize,
    /// The scene columns the stripe's tiles read.
    read: Range<usize>,
    /// Per chunk of the scene.
    chunks: Vec<Option<HeldChunk>>,
}

/// The scene columns chunk `k` of chunks `chunk_cols` wide holds when a stripe reads
/// columns `read`: its columns from column 0, clipped to `read` (empty outside it).
fn chunk_span(k: usize, chunk_cols: usize, read: &Range<usize>) -> Range<usize> {
    let (start, end) = ((k * chunk_cols).max(read.start), ((k + 1) * chunk_cols).min(read.end));
    start..end.max(start)
}

/// Tile columns `tile_col..tile_col + len` are `len` columns side by side in chunk `chunk`:
/// columns `local..local + len` in order, or, `reversed` (mirrored at the scene's edges),
/// the same columns right to left.
#[derive(Debug, Clone, Copy)]
struct ColumnRun {
    tile_col: usize,
    chunk: usize,
    local: usize,
    len: usize,
    reversed: bool,
}

impl ColumnRun {
    /// The run's columns in its chunk, left to right.
    fn held(&self) -> Range<usize> {
        self.local..self.local + self.len
    }

    /// The run's tile columns.
    fn tile(&self) -> Range<usize> {
        self.tile_col..self.tile_col + self.len
    }
}

/// Values held in one of the file types ([`StoredPlanes`]).
trait Stored: Copy + Into<f32> {
    fn values(planes: &StoredPlanes) -> Option<&[Self]>;
}

macro_rules! stored {
    ($($t:ty => $variant:ident),*) => {$(
        impl Stored for $t {
            fn values(planes: &StoredPlanes) -> Option<&[Self]> {
                match planes {
                    StoredPlanes::$variant(v) => Some(v),
                    _ => None,
                }
            }
        }
    )*};
}
stored!(u8 => UInt8, i16 => Int16, u16 => UInt16, f32 => Float32);

impl HeldSource<'_> {
    /// The chunk that scene column `c` lies in.
    fn chunk_of(&self, c: usize) -> usize {
        c / self.chunk_cols
    }

    /// The scene columns chunk `k` holds.
    fn chunk_span(&self, k: usize) -> Range<usize> {
        chunk_span(k, self.chunk_cols, &self.read)
    }

    /// The chunks a tile of scene columns `cols` (reflected at the edges) reads.
    fn chunks_for(&self, cols: &[usize]) -> Range<usize> {
        let (low, high) = (cols.iter().min().copied().unwrap_or(0), cols.iter().max().copied().unwrap_or(0));
        self.chunk_of(low)..self.chunk_of(high) + 1
    }

    /// Scene columns `cols` as runs within chunks: one or two for an interior tile; at an
    /// edge, the reflected columns too, which run right to left.
    fn runs(&self, cols: &[usize]) -> Vec<ColumnRun> {
        let mut runs: Vec<ColumnRun> = Vec::new();
        for (j, &c) in cols.iter().enumerate() {
            let chunk = self.chunk_of(c);
            let local = c - self.chunk_span(chunk).start;
            match runs.last_mut() {
                Some(run) if run.chunk == chunk && !run.reversed && run.local + run.len == local => run.len += 1,
                Some(run) if run.chunk == chunk && (run.reversed || run.len == 1) && run.local == local + 1 => {
                    (run.local, run.len, run.reversed) = (local, run.len + 1, true);
                }
                _ => runs.push(ColumnRun { tile_col: j, chunk, local, len: 1, reversed: false }),
            }
        }
        runs
    }

    /// The chunk `k`, which the tile being cut needs.
    fn chunk(&self, k: usize) -> &HeldChunk {
        self.chunks[k].as_ref().expect("a tile is cut only once its chunks are held")
    }

    /// Cuts the tile of scene rows `rows` and columns `cols` (reflected at the scene's
    /// edges; all held) into `out` (`[bands, tile, tile]`), normalised; values without data
    /// become 0, in every band where the pixel has none. Clears `valid` (`[tile, tile]`)
    /// where the pixel has no data.
    fn cut(&self, rows: &[usize], cols: &[usize], out: &mut [f32], valid: &mut Array2<bool>) {
        let runs = self.runs(cols);
        for (&r, mut valid) in rows.iter().zip(valid.rows_mut()) {
            for run in &runs {
                let chunk = self.chunk(run.chunk);
                let held = &chunk.valid[chunk.row_range(r)][run.held()];
                let mut valid = valid.slice_mut(s![run.tile()]);
                if run.reversed {
                    valid.invert_axis(Axis(0));
                }
                for (ok, &h) in valid.iter_mut().zip(held) {
                    *ok &= h;
                }
            }
        }
        match &self.chunk(runs[0].chunk).stored {
            StoredPlanes::UInt8(_) => self.cut_from::<u8>(&runs, rows, out),
            StoredPlanes::Int16(_) => self.cut_from::<i16>(&runs, rows, out),
            StoredPlanes::UInt16(_) => self.cut_from::<u16>(&runs, rows, out),
            StoredPlanes::Float32(_) => self.cut_from::<f32>(&runs, rows, out),
        }
    }

    /// [`HeldSource::cut`]'s values, from the held values of type `T`.
    fn cut_from<T: Stored>(&self, runs: &[ColumnRun], rows: &[usize], out: &mut [f32]) {
        let meta = self.meta;
        let tile = rows.len();
        let chunks: Vec<(&HeldChunk, &[T])> = runs
            .iter()
            .map(|run| {
                let chunk = self.chunk(run.chunk);
                (chunk, T::values(&chunk.stored).expect("every chunk of a source holds the file's type"))
            })
            .collect();
        let normalise = BandNormalisation::kernel::<T>();
        for (b, out) in out.chunks_mut(tile * tile).enumerate() {
            let band = BandNormalisation {
                gain: meta.scale[b],
                bias: meta.offset[b],
                offset: self.offset[b] as f32,
                scale: self.scale[b] as f32,
                nodata: meta.nodata.map_or(f32::NAN, |v| v as f32),
            };
            for (&r, out) in rows.iter().zip(out.chunks_mut(tile)) {
                for (run, &(chunk, values)) in runs.iter().zip(&chunks) {
                    let plane = &values[b * chunk.plane()..(b + 1) * chunk.plane()];
                    let out = &mut out[run.tile()];
                    normalise(&band, &plane[chunk.row_range(r)][run.held()], out);
                    if meta.nodata.is_some() {
                        for (o, &ok) in out.iter_mut().zip(&chunk.valid[chunk.row_range(r)][run.held()]) {
                            if !ok {
                                *o = 0.0;
                            }
                        }
                    }
                    if run.reversed {
                        out.reverse();
                    }
                }
            }
        }
    }
}

/// How one band's stored values become a model's input: `CubeMeta::physical` (`gain`,
/// `bias`, in f64), then the card's normalisation (`offset`, `scale`); the nodata value and
/// NaN become 0.
struct BandNormalisation {
    gain: f64,
    bias: f64,
    offset: f32,
    scale: f32,
    /// NaN when the file has none (NaN matches nothing).
    nodata: f32,
}

/// Normalises stored values `src` into `dst` (of the same length).
type NormaliseFn<T> = fn(&BandNormalisation, &[T], &mut [f32]);

impl BandNormalisation {
    /// The fastest [`NormaliseFn`] this CPU runs: the same arithmetic in every case (no
    /// fused multiply-add, the same order), so the same bits, only more lanes at a time
    /// where the CPU has AVX2.
    fn kernel<T: Stored>() -> NormaliseFn<T> {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            return |band, src, dst| {
                // SAFETY: the CPU has AVX2, checked above.
                unsafe { band.apply_avx2(src, dst) }
            };
        }
        Self::apply
    }

    /// Written so that it vectorises: one pass, no branch.
    #[inline(always)]
    fn apply<T: Stored>(&self, src: &[T], dst: &mut [f32]) {
        for (o, &v) in dst.iter_mut().zip(src) {
            let v: f32 = v.into();
            let x = ((f64::from(v) * self.gain + self.bias) as f32 - self.offset) / self.scale;
            *o = if (v == self.nodata) | x.is_nan() { 0.0 } else { x };
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn apply_avx2<T: Stored>(&self, src: &[T], dst: &mut [f32]) {
        self.apply(src, dst)
    }
}

/// Clears `valid` (the pixels `pixels` of a band plane) where a good band holds the nodata
/// value; `stored` holds band planes of `plane` values.
fn clear_voids<T: Copy + Into<f32>>(meta: &CubeMeta, stored: &[T], plane: usize, pixels: Range<usize>, valid: &mut [bool]) {
    for (b, band) in stored.chunks(plane).enumerate() {
        for (ok, &v) in valid.iter_mut().zip(&band[pixels.clone()]) {
            *ok &= !meta.voids_pixel(b, v.into());
        }
    }
}

/// The scene rows a [`Strip`] holds: `height` rows from `first`.
#[derive(Debug, Clone, Copy)]
struct RowSpan {
    first: isize,
    height: usize,
}

impl RowSpan {
    /// Whether a tile of `tile` rows starting at `row` fits in the span.
    fn fits(&self, row: isize, tile: usize) -> bool {
        row >= self.first && (row - self.first) as usize + tile <= self.height
    }

    /// Moves the span down to start at `next` (never up); returns how many rows it moved.
    fn advance_to(&mut self, next: isize) -> usize {
        let done = (next - self.first).max(0) as usize;
        if done > 0 {
            self.first = next;
        }
        done
    }
}

/// The weighted sums of tile outputs over a band of scene rows, across a stripe's columns.
#[derive(Debug)]
struct Strip {
    rows: RowSpan,
    channels: usize,
    /// Scene columns `col0..col0 + cols`.
    col0: usize,
    cols: usize,
    /// `[channels, height, cols]`: Σ weight · value.
    sum: Array3<f32>,
    /// `[height, cols]`: Σ weight.
    weight: Array2<f32>,
    /// The sums the stripe on the left made in its last columns, which are this one's first.
    from_left: Option<SeamReader>,
    /// Where this stripe's last columns' sums go, for the stripe on the right.
    to_right: Option<SeamWriter>,
}

impl Strip {
    /// An empty strip of `height` rows starting at the first tile row, over `stripe`'s
    /// columns, with the seams it shares with its neighbours.
    fn new(grid: &TileGrid, stripe: &Stripe, channels: usize, height: usize, seams: Seams) -> Self {
        let cols = stripe.cols.len();
        Self {
            rows: first_span(grid, height),
            channels,
            col0: stripe.cols.start,
            cols,
            sum: Array3::zeros((channels, height, cols)),
            weight: Array2::zeros((height, cols)),
            from_left: seams.from_left,
            to_right: seams.to_right,
        }
    }

    /// Adds `output` (`[channels, tile, tile]`) of the tile at (`row`, `col`), weighted by
    /// `weights`, at its valid pixels.
    fn add(
        &mut self,
        row: isize,
        col: isize,
        output: ArrayView3<'_, f32>,
        valid: ArrayView2<'_, bool>,
        weights: &Array2<f32>,
    ) -> Result<()> {
        if !self.rows.fits(row, valid.nrows()) {
            bail!("tile at row {row} lies outside the blending strip (rows {} on)", self.rows.first);
        }
        let offset = (row - self.rows.first) as usize;
        // The tile's columns inside the strip; its pixels outside the scene are never valid.
        let (t, col) = (valid.ncols() as isize, col - self.col0 as isize);
        let (j0, j1) = ((-col).clamp(0, t) as usize, (self.cols as isize - col).clamp(0, t) as usize);
        if j0 >= j1 {
            return Ok(());
        }
        let strip_cols = (col + j0 as isize) as usize..(col + j1 as isize) as usize;
        for (i, valid_row) in valid.outer_iter().enumerate() {
            let (valid_row, tile_weights) = (valid_row.slice(s![j0..j1]), weights.slice(s![i, j0..j1]));
            Zip::from(self.weight.slice_mut(s![offset + i, strip_cols.clone()])).and(valid_row).and(tile_weights).for_each(
                |sum, &ok, &w| {
                    if ok {
                        *sum += w;
                    }
                },
            );
            for k in 0..self.channels {
                Zip::from(self.sum.slice_mut(s![k, offset + i, strip_cols.clone()]))
                    .and(valid_row)
                    .and(tile_weights)
                    .and(output.slice(s![k, i, j0..j1]))
                    .for_each(|sum, &ok, &w, &v| {
                        if ok {
                            *sum += w * v;
                        }
                    });
            }
        }
        Ok(())
    }

    /// Finishes the scene rows before `next_row`: adds the left seam's sums to them, hands
    /// the right seam's on, and returns where the finished pixels lie (every column but
    /// the right seam's) with their `[rows, cols, channels]` values, NaN where no tile
    /// had valid data; then moves the strip down to start at `next_row`.
    fn finish_until(&mut self, next_row: isize, scene_rows: usize) -> Result<Option<(Window, Array3<f32>)>> {
        let first_row = self.rows.first;
        let done = self.rows.advance_to(next_row);
        if done == 0 {
            return Ok(None);
        }
        let (start, end) = (first_row.max(0), next_row.min(scene_rows as isize));
        let mut finished = None;
        if end > start {
            let rows = (start - first_row) as usize..(end - first_row) as usize;
            if let Some(seam) = &mut self.from_left {
                let cols = 0..seam.width;
                seam.add_rows(self.sum.slice_mut(s![.., rows.clone(), cols.clone()]), self.weight.slice_mut(s![rows.clone(), cols]))?;
            }
            let mut cols = 0..self.cols;
            if let Some(seam) = &mut self.to_right {
                let shared = self.cols - seam.width..self.cols;
                seam.write_rows(self.sum.slice(s![.., rows.clone(), shared.clone()]), self.weight.slice(s![rows.clone(), shared.clone()]))?;
                cols.end = shared.start;
            }
            // Band-major, as the strip holds them: the writers take band planes.
            let mut values = Array3::<f32>::zeros((self.channels, rows.len(), cols.len()));
            let weight = self.weight.slice(s![rows.clone(), cols.clone()]);
            for (mut plane, sum) in values.outer_iter_mut().zip(self.sum.outer_iter()) {
                Zip::from(&mut plane).and(sum.slice(s![rows.clone(), cols.clone()])).and(weight).for_each(|value, &sum, &w| {
                    *value = if w > 0.0 { sum / w } else { f32::NAN };
                });
            }
            let window = Window { row: start as usize, col: self.col0, rows: rows.len(), cols: cols.len() };
            finished = Some((window, values.permuted_axes([1, 2, 0])));
        }
        shift_rows(self.weight.view_mut().insert_axis(Axis(0)), done);
        shift_rows(self.sum.view_mut(), done);
        Ok(finished)
    }
}

/// The seams a stripe shares with its neighbours ([`Strip::from_left`], [`Strip::to_right`]).
#[derive(Debug, Default)]
struct Seams {
    from_left: Option<SeamReader>,
    to_right: Option<SeamWriter>,
}

/// Bytes of one row of a seam `width` columns wide with `channels` sums and a weight.
fn seam_row_bytes(channels: usize, width: usize) -> usize {
    (channels + 1) * width * size_of::<f32>()
}

/// The blending sums of the scene columns two neighbouring stripes both cover, as the
/// stripe on the left leaves them, row by row from the top, in an unnamed temporary file
/// (so that memory does not follow the scene's height): each row its `channels` sums, then
/// its weights, `width` values each.
#[derive(Debug)]
struct SeamWriter {
    channels: usize,
    width: usize,
    file: std::io::BufWriter<std::fs::File>,
}

impl SeamWriter {
    fn new(channels: usize, width: usize) -> Result<Self> {
        let file = tempfile::tempfile().context("cannot create the temporary file of a seam between two column stripes")?;
        Ok(Self { channels, width, file: std::io::BufWriter::new(file) })
    }

    /// Appends the rows of `sum` (`[channels, rows, width]`) and `weight` (`[rows, width]`).
    fn write_rows(&mut self, sum: ArrayView3<'_, f32>, weight: ArrayView2<'_, f32>) -> Result<()> {
        use std::io::Write;
        let mut bytes = Vec::with_capacity(weight.nrows() * seam_row_bytes(self.channels, self.width));
        for (r, weights) in weight.outer_iter().enumerate() {
            for v in sum.slice(s![.., r, ..]).iter().chain(weights) {
                bytes.extend_from_slice(&v.to_le_bytes());
            }
        }
        self.file.write_all(&bytes).context("cannot write the temporary file of a seam between two column stripes")
    }

    /// The rows written, to be read from the top.
    fn into_reader(self) -> Result<SeamReader> {
        use std::io::Seek;
        let mut file = self.file.into_inner().map_err(|e| e.into_error()).context("cannot write the temporary file of a seam")?;
        file.rewind().context("cannot rewind the temporary file of a seam")?;
        Ok(SeamReader { channels: self.channels, width: self.width, file: std::io::BufReader::new(file) })
    }
}

/// A seam's sums ([`SeamWriter`]) as the stripe on the right reads them, row by row from the top.
#[derive(Debug)]
struct SeamReader {
    channels: usize,
    width: usize,
    file: std::io::BufReader<std::fs::File>,
}

impl SeamReader {
    /// Adds the next rows' sums to `sum` (`[channels, rows, width]`) and `weight` (`[rows, width]`).
    fn add_rows(&mut self, mut sum: ArrayViewMut3<'_, f32>, mut weight: ArrayViewMut2<'_, f32>) -> Result<()> {
        use std::io::Read;
        let mut bytes = vec![0; weight.nrows() * seam_row_bytes(self.channels, self.width)];
        self.file.read_exact(&mut bytes).context("cannot read the temporary file of a seam between two column stripes")?;
        let mut values = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        for (r, mut weights) in weight.outer_iter_mut().enumerate() {
            for v in sum.slice_mut(s![.., r, ..]).iter_mut().chain(weights.iter_mut()) {
                *v += values.next().expect("read to the row's size");
            }
        }
        Ok(())
    }
}

/// Moves every plane of `planes` (`[k, rows, cols]`) up by `by` rows, zeroing the rows freed
/// at the bottom.
fn shift_rows(mut planes: ndarray::ArrayViewMut3<'_, f32>, by: usize) {
    for mut plane in planes.outer_iter_mut() {
        let rows = plane.nrows();
        for r in 0..rows {
            if r + by < rows {
                let (mut to, from) = plane.multi_slice_mut((ndarray::s![r, ..], ndarray::s![r + by, ..]));
                to.assign(&from);
            } else {
                plane.row_mut(r).fill(0.0);
            }
        }
    }
}

/// What a tiled run did.
#[derive(Debug, Clone, Copy, Default)]
pub struct TileCounts {
    /// Tiles run through the model.
    pub run: usize,
    /// Tiles without any valid pixel, skipped.
    pub skipped: usize,
    /// Model calls.
    pub batches: usize,
}

/// The strip's rows at the start: from the first tile row.
fn first_span(grid: &TileGrid, height: usize) -> RowSpan {
    RowSpan { first: grid.row_starts()[0], height }
}

/// A tile in a batch: its top-left corner (row, column) and its pixels with data.
type PlacedTile = (isize, isize, Array2<bool>);

/// What the reading thread hands the model thread, in order.
enum Work {
    /// A batch: input `[batch, channels, tile, tile]`, of which the first `tiles.len()`
    /// slots are filled, and where each tile lies.
    Tiles(Array4<f32>, Vec<PlacedTile>),
    /// No later tile starts above this row: the scene rows before it are final.
    RowsBefore(isize),
}

/// Another thread of the run has stopped (its own error says why): the thread named.
#[derive(Debug)]
struct Stopped(&'static str);

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the {} thread stopped", self.0)
    }
}

impl std::error::Error for Stopped {}

/// Memory that a column stripe's held input rows and blending strip may take together
/// (see [`Stripe`]); a scene whose rows of tiles need more is run in stripes.
const STRIPE_BYTES: usize = 320 << 20;

/// A band of the grid's tile columns run top to bottom as a pass of its own, so that memory
/// follows the stripe's width, not the scene's. Neighbouring stripes share no tile, only
/// the scene columns where their edge tiles overlap (a seam): the left one hands its sums
/// there to the right one ([`SeamWriter`]), which finishes them. A scene whose rows of
/// tiles fit [`STRIPE_BYTES`] is one stripe.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stripe {
    /// First columns of its tiles, left to right.
    col_starts: Vec<isize>,
    /// The scene columns its tiles cover: its blending strip's.
    cols: Range<usize>,
    /// The scene columns its tiles read (reflected at the scene's edges).
    read: Range<usize>,
    /// Columns at the start of `cols` the stripe on the left covers too.
    left_seam: usize,
    /// Columns at the end of `cols` the stripe on the right covers too.
    right_seam: usize,
}

/// The grid's tile columns in stripes of `per_stripe` tiles (the last maybe fewer).
fn stripes(grid: &TileGrid, per_stripe: usize) -> Vec<Stripe> {
    let t = grid.tile as isize;
    let clip = |c: isize| c.clamp(0, grid.cols as isize) as usize;
    let mut stripes: Vec<Stripe> = grid
        .col_starts()
        .chunks(per_stripe.max(1))
        .map(|starts| {
            let read = starts.iter().flat_map(|&c| (c..c + t).map(|j| reflect(j, grid.cols)));
            let (low, high) = read.fold((usize::MAX, 0), |(l, h), c| (l.min(c), h.max(c)));
            Stripe {
                col_starts: starts.to_vec(),
                cols: clip(starts[0])..clip(starts[starts.len() - 1] + t),
                read: low..high + 1,
                left_seam: 0,
                right_seam: 0,
            }
        })
        .collect();
    for k in 1..stripes.len() {
        let shared = stripes[k - 1].cols.end.saturating_sub(stripes[k].cols.start);
        (stripes[k - 1].right_seam, stripes[k].left_seam) = (shared, shared);
    }
    stripes
}

/// Tiles per stripe: all of a row when the held rows of every source and the blending
/// strip (`strip_height` rows of `out_channels`) fit [`STRIPE_BYTES`] over the scene's
/// width; else as many as fit (at least one), shared out evenly among the stripes.
fn tiles_per_stripe(grid: &TileGrid, sources: &[TileSource<'_>], out_channels: usize, strip_height: usize) -> usize {
    let held: usize = sources.iter().map(|s| HeldChunk::bytes_per_col(s.cube, grid.tile)).sum();
    let per_col = held + strip_height * (out_channels + 1) * size_of::<f32>();
    let (fit, tiles) = (STRIPE_BYTES / per_col.max(1), grid.col_starts().len());
    if grid.cols <= fit {
        return tiles;
    }
    let most = (fit.saturating_sub(grid.overlap) / grid.step()).max(1);
    tiles.div_ceil(tiles.div_ceil(most))
}

/// Rows of a stripe's blending strip: room for the tile rows a batch of `batch` usually
/// spans over `tiles` tile columns (a batch that would reach past the strip, past rows of
/// tiles without data, is run early).
fn strip_height(grid: &TileGrid, batch: usize, tiles: usize) -> usize {
    grid.tile + (batch.div_ceil(tiles.max(1)) + 1) * grid.step()
}

/// The shapes a tiled run of one stripe works with.
struct TiledRun<'g> {
    grid: &'g TileGrid,
    stripe: &'g Stripe,
    batch: usize,
    /// Model input channels: every source's bands.
    channels: usize,
    out_channels: usize,
    /// Rows of the blending strip ([`strip_height`]).
    strip_height: usize,
    /// Per source, the width of the column chunks it is read in ([`HeldChunk`]).
    chunk_cols: Vec<usize>,
}

impl TiledRun<'_> {
    /// The scene rows of the row of tiles starting at `row`, reflected at the edges.
    fn tile_rows(&self, row: isize) -> Vec<usize> {
        (0..self.grid.tile).map(|i| reflect(row + i as isize, self.grid.rows)).collect()
    }

    /// The scene columns of the tile starting at column `col`, reflected at the edges.
    fn tile_cols(&self, col: isize) -> Vec<usize> {
        (0..self.grid.tile).map(|j| reflect(col + j as isize, self.grid.cols)).collect()
    }

    /// The chunks of source `s` the stripe reads.
    fn chunks(&self, s: usize) -> Range<usize> {
        let (w, read) = (self.chunk_cols[s], &self.stripe.read);
        read.start / w..(read.end.max(1) - 1) / w + 1
    }
}

/// Where `fuse` and `super-resolve` put the blended outputs: at `Window` of the scene,
/// `[rows, cols, out_channels]` values (band-major in memory, as `CogWriter` takes them).
pub type WriteWindow<'a> = dyn FnMut(Window, Array3<f32>) -> Result<()> + Send + 'a;

/// A model's run on a batch: `[batch, channels in, tile, tile]` to `[batch, out_channels, tile, tile]`.
pub type Infer<'a> = dyn FnMut(ArrayView4<'_, f32>) -> Result<Array4<f32>> + Send + 'a;

/// Runs `infer` over every tile of `grid` with data in every source: the tile's model input
/// is each source's bands in turn (e.g. pre-event then post-event), normalised. The
/// blended outputs reach `write`, NaN where no source has data: in each column stripe
/// ([`Stripe`]; the whole width when it fits) top to bottom, stripes left to right.
///
/// Three threads share the work: this one reads each source's rows chunk by chunk
/// ([`HeldChunk`]); a second cuts the tiles from the chunks read so far into batches while
/// the next chunk is read; a third runs `infer` and `write`.
pub fn run_tiled(
    grid: &TileGrid,
    batch: usize,
    sources: &[TileSource<'_>],
    out_channels: usize,
    infer: &mut Infer<'_>,
    write: &mut WriteWindow<'_>,
    bar: &ProgressBar,
) -> Result<TileCounts> {
    let chunk_cols = sources.iter().map(|s| s.cube.read_chunk_cols()).collect();
    let height = strip_height(grid, batch, grid.col_starts().len());
    let per_stripe = tiles_per_stripe(grid, sources, out_channels, height);
    run_tiled_in(grid, batch, sources, &stripes(grid, per_stripe), chunk_cols, out_channels, infer, write, bar)
}

/// [`run_tiled`] in the stripes given, each source read in column chunks of the width
/// given for it.
#[allow(clippy::too_many_arguments)]
fn run_tiled_in(
    grid: &TileGrid,
    batch: usize,
    sources: &[TileSource<'_>],
    stripes: &[Stripe],
    chunk_cols: Vec<usize>,
    out_channels: usize,
    infer: &mut Infer<'_>,
    write: &mut WriteWindow<'_>,
    bar: &ProgressBar,
) -> Result<TileCounts> {
    if batch == 0 {
        bail!("the batch must hold at least 1 tile");
    }
    let chunk_cols: Vec<usize> = chunk_cols.into_iter().map(|w| w.clamp(1, grid.cols.max(1))).collect();
    let mut counts = TileCounts::default();
    let mut from_left = None;
    for stripe in stripes {
        let layout = TiledRun {
            grid,
            stripe,
            batch,
            channels: sources.iter().map(|s| s.cube.meta().bands).sum(),
            out_channels,
            strip_height: strip_height(grid, batch, stripe.col_starts.len()),
            chunk_cols: chunk_cols.clone(),
        };
        let to_right = (stripe.right_seam > 0).then(|| SeamWriter::new(out_channels, stripe.right_seam)).transpose()?;
        let (stripe_counts, to_right) = run_stripe(&layout, sources, Seams { from_left, to_right }, infer, write, bar)?;
        counts.run += stripe_counts.run;
        counts.skipped += stripe_counts.skipped;
        counts.batches += stripe_counts.batches;
        from_left = to_right.map(SeamWriter::into_reader).transpose()?;
        if stripes.len() > 1 {
            // The next stripe reads other blocks (a resampled cube keeps its blocks cached).
            sources.iter().for_each(|s| s.cube.release_cached_blocks());
        }
    }
    Ok(counts)
}

/// One stripe of [`run_tiled_in`], on its three threads; returns what it did and the seam
/// it leaves for the stripe on its right.
fn run_stripe(
    layout: &TiledRun<'_>,
    sources: &[TileSource<'_>],
    seams: Seams,
    infer: &mut Infer<'_>,
    write: &mut WriteWindow<'_>,
    bar: &ProgressBar,
) -> Result<(TileCounts, Option<SeamWriter>)> {
    let held: Vec<HeldSource<'_>> = sources
        .iter()
        .zip(&layout.chunk_cols)
        .map(|(s, &chunk_cols)| HeldSource {
            meta: s.cube.meta(),
            offset: s.offset,
            scale: s.scale,
            chunk_cols,
            read: layout.stripe.read.clone(),
            chunks: (0..layout.grid.cols.div_ceil(chunk_cols)).map(|_| None).collect(),
        })
        .collect();
    let (work, queue) = std::sync::mpsc::channel();
    let (give_back, returned) = std::sync::mpsc::channel();
    let (read, held_chunks) = std::sync::mpsc::channel();
    let (hand_back, handed_back) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        let model = crate::threads::spawn_scoped(scope, "the model", move || run_model(layout, seams, queue, give_back, infer, write))?;
        let cutter = crate::threads::spawn_scoped(scope, "cutting tiles", move || {
            cut_tiles(layout, held, held_chunks, hand_back, work, returned, bar)
        })?;
        let reading = read_chunks(layout, sources, &read, &handed_back);
        drop(read);
        let cutting = cutter.join().map_err(|_| anyhow::anyhow!("the cutting thread panicked"))?;
        let model = model.join().map_err(|_| anyhow::anyhow!("the model thread panicked"))?;
        match (reading, cutting, model) {
            (Ok(()), Ok(skipped), Ok((run, batches, seam))) => Ok((TileCounts { run, skipped, batches }, seam)),
            // The first error that is not another thread's stopping says why.
            (reading, cutting, model) => {
                Err([reading.err(), cutting.err(), model.err()].into_iter().flatten().min_by_key(|e| e.is::<Stopped>()).expect("an error"))
            }
        }
    })
}

/// The reading side of [`run_tiled`]: for each row of tiles, each source's chunks in
/// turn, column by column, the rows the row of tiles needs read into them, each handed to
/// the cutting thread as soon as it is read. From the second row of tiles on, each chunk
/// is the one the cutting thread hands back once the row before is past it.
fn read_chunks(
    layout: &TiledRun<'_>,
    sources: &[TileSource<'_>],
    read: &Sender<HeldChunk>,
    handed_back: &Receiver<HeldChunk>,
) -> Result<()> {
    let (grid, chunk_cols) = (layout.grid, &layout.chunk_cols);
    let chunks = (0..sources.len()).map(|s| layout.chunks(s).end).max().unwrap_or(0);
    // The chunks handed back, per source and chunk, until they are read again.
    let mut back: Vec<Vec<Option<HeldChunk>>> = chunk_cols.iter().map(|&w| (0..grid.cols.div_ceil(w)).map(|_| None).collect()).collect();
    for (k, &row) in grid.row_starts().iter().enumerate() {
        let rows = layout.tile_rows(row);
        let (first, last) = (rows.iter().min().copied().unwrap_or(0), rows.iter().max().copied().unwrap_or(0));
        for c in 0..chunks {
            for (s, source) in sources.iter().enumerate() {
                let cols = chunk_span(c, chunk_cols[s], &layout.stripe.read);
                if cols.is_empty() {
                    continue;
                }
                let mut chunk = if k == 0 {
                    HeldChunk::new(source.cube, s, cols, grid.tile)
                } else {
                    while back[s][c].is_none() {
                        let chunk = handed_back.recv().map_err(|_| Stopped("cutting"))?;
                        let (from, at) = (chunk.source, chunk.col0 / chunk_cols[chunk.source]);
                        back[from][at] = Some(chunk);
                    }
                    back[s][c].take().expect("just received")
                };
                chunk.hold(source.cube, first, last + 1)?;
                read.send(chunk).map_err(|_| Stopped("cutting"))?;
            }
        }
    }
    Ok(())
}

/// The cutting side of [`run_tiled`]: cuts the tiles in raster order into batches, each
/// once the chunks it needs are read, and tells the model thread when rows are final.
/// Hands each chunk back to the reading thread once the row's tiles are past it. Returns
/// the tiles skipped for want of data.
fn cut_tiles(
    layout: &TiledRun<'_>,
    mut held: Vec<HeldSource<'_>>,
    held_chunks: Receiver<HeldChunk>,
    hand_back: Sender<HeldChunk>,
    work: Sender<Work>,
    returned: Receiver<Array4<f32>>,
    bar: &ProgressBar,
) -> Result<usize> {
    let grid = layout.grid;
    let t = grid.tile;
    let (row_starts, col_starts) = (grid.row_starts(), &layout.stripe.col_starts);
    let mut strip = first_span(grid, layout.strip_height);
    let mut input = Array4::<f32>::zeros((layout.batch, layout.channels, t, t));
    let mut tiles: Vec<PlacedTile> = Vec::with_capacity(layout.batch);
    let mut skipped = 0;

    // Hands over the batch so far and takes a buffer for the next: a second one at the
    // first hand-over, then the one the model thread gives back when it has run the batch
    // before (two buffers in all: one filled here while the model runs the other).
    let mut buffers = 1;
    let mut send_tiles = |input: &mut Array4<f32>, tiles: &mut Vec<PlacedTile>| -> Result<()> {
        if tiles.is_empty() {
            return Ok(());
        }
        let shape = input.dim();
        let full = std::mem::take(input);
        work.send(Work::Tiles(full, std::mem::take(tiles))).map_err(|_| Stopped("model"))?;
        *input = if buffers < 2 {
            buffers += 1;
            Array4::zeros(shape)
        } else {
            returned.recv().map_err(|_| Stopped("model"))?
        };
        Ok(())
    };
    let rows_before = |strip: &mut RowSpan, row: isize| -> Result<()> {
        strip.advance_to(row);
        work.send(Work::RowsBefore(row)).map_err(|_| Stopped("model").into())
    };
    // Waits until every source holds the chunks `needed` (per source) for this row of tiles.
    let wait_for = |held: &mut Vec<HeldSource<'_>>, needed: &[Range<usize>]| -> Result<()> {
        while held.iter().zip(needed).any(|(h, n)| h.chunks[n.clone()].iter().any(Option::is_none)) {
            let chunk = held_chunks.recv().map_err(|_| Stopped("reading"))?;
            let source = &mut held[chunk.source];
            let k = source.chunk_of(chunk.col0);
            source.chunks[k] = Some(chunk);
        }
        Ok(())
    };
    // Hands back every chunk left of column `col` (every chunk with `None`): later tiles
    // of this row do not read them.
    let hand_back_before = |held: &mut Vec<HeldSource<'_>>, col: Option<usize>| {
        for source in held.iter_mut() {
            for slot in &mut source.chunks {
                if slot.as_ref().is_some_and(|chunk| col.is_none_or(|col| chunk.col0 + chunk.cols <= col)) {
                    // After the last row of tiles the reading thread is gone: nothing to hand back to.
                    let _ = hand_back.send(slot.take().expect("checked"));
                }
            }
        }
    };

    for (k, &row) in row_starts.iter().enumerate() {
        if !strip.fits(row, t) {
            send_tiles(&mut input, &mut tiles)?;
            rows_before(&mut strip, row)?;
        }
        let rows = layout.tile_rows(row);
        for (i, &col) in col_starts.iter().enumerate() {
            let cols = layout.tile_cols(col);
            let needed: Vec<Range<usize>> = held.iter().map(|h| h.chunks_for(&cols)).collect();
            wait_for(&mut held, &needed)?;
            let mut slot = input.index_axis_mut(Axis(0), tiles.len());
            let values = slot.as_slice_mut().context("a batch slot is contiguous")?;
            let valid = cut_tile(grid, &held, &rows, &cols, (row, col), values);
            let next_low = col_starts.get(i + 1).map(|&c| layout.tile_cols(c).into_iter().min().unwrap_or(0));
            hand_back_before(&mut held, next_low);
            bar.inc(1);
            if !valid.iter().any(|&v| v) {
                skipped += 1;
                continue;
            }
            tiles.push((row, col, valid));
            if tiles.len() == layout.batch {
                send_tiles(&mut input, &mut tiles)?;
                // Every tile of the rows before this one is in: the scene rows above this
                // tile row are final.
                rows_before(&mut strip, row)?;
            }
        }
        if tiles.is_empty() {
            rows_before(&mut strip, row_starts.get(k + 1).copied().unwrap_or(grid.rows as isize))?;
        }
    }
    send_tiles(&mut input, &mut tiles)?;
    rows_before(&mut strip, grid.rows as isize)?;
    Ok(skipped)
}

/// Fills `values` (one batch slot, `[channels, t, t]`) with the tile whose top-left corner
/// is at `(row, col)` (scene rows `rows` and columns `cols`, reflected at the edges) from
/// every source's held chunks; returns its valid pixels: inside the scene, with data in
/// every source.
fn cut_tile(
    grid: &TileGrid,
    held: &[HeldSource<'_>],
    rows: &[usize],
    cols: &[usize],
    (row, col): (isize, isize),
    values: &mut [f32],
) -> Array2<bool> {
    let t = grid.tile;
    // Reflected pixels are context only.
    let inside = |start: isize, i: usize, n: usize| (0..n as isize).contains(&(start + i as isize));
    let mut valid = Array2::from_shape_fn((t, t), |(i, j)| inside(row, i, grid.rows) && inside(col, j, grid.cols));
    let mut channel = 0;
    for source in held {
        let bands = source.meta.bands;
        source.cut(rows, cols, &mut values[channel * t * t..(channel + bands) * t * t], &mut valid);
        channel += bands;
    }
    valid
}

/// The model side of [`run_tiled`]: runs each batch, gives its input buffer back, blends
/// the outputs into the strip and writes the rows made final. Returns the tiles run and
/// the model calls.
fn run_model(
    layout: &TiledRun<'_>,
    seams: Seams,
    queue: Receiver<Work>,
    give_back: Sender<Array4<f32>>,
    infer: &mut Infer<'_>,
    write: &mut WriteWindow<'_>,
) -> Result<(usize, usize, Option<SeamWriter>)> {
    let grid = layout.grid;
    let t = grid.tile;
    let weights = grid.weights();
    let mut strip = Strip::new(grid, layout.stripe, layout.out_channels, layout.strip_height, seams);
    let (mut run, mut batches) = (0, 0);
    for work in queue {
        match work {
            Work::Tiles(input, tiles) => {
                let n = tiles.len();
                let output = infer(input.slice(ndarray::s![..n, .., .., ..]))?;
                if output.dim() != (n, layout.out_channels, t, t) {
                    bail!("the model returned shape {:?} for {n} tiles of {t} x {t} pixels", output.shape());
                }
                // The reading thread may already be gone (it failed); the buffer is then dropped.
                let _ = give_back.send(input);
                for (out, (row, col, valid)) in output.outer_iter().zip(tiles) {
                    strip.add(row, col, out, valid.view(), &weights)?;
                }
                run += n;
                batches += 1;
            }
            Work::RowsBefore(row) => {
                if let Some((window, values)) = strip.finish_until(row, grid.rows)? {
                    write(window, values)?;
                }
            }
        }
    }
    Ok((run, batches, strip.to_right))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflection_mirrors_without_repeating_the_edge() {
        let got: Vec<usize> = (-3..8).map(|i| reflect(i, 5)).collect();
        assert_eq!(got, vec![3, 2, 1, 0, 1, 2, 3, 4, 3, 2, 1]);
        assert_eq!(reflect(9, 3), 1);
        assert_eq!(reflect(-4, 1), 0);
    }

    #[test]
    fn tiles_cover_the_scene_with_a_margin() {
        let grid = TileGrid::new(83, 86, 32, 8).unwrap();
        let starts = grid.col_starts();
        assert_eq!(starts, vec![-4, 20, 44, 68]);
        assert!(*starts.last().unwrap() + 32 >= 86 + 4);
        assert!(starts[starts.len() - 2] + 32 < 86 + 4);
        assert_eq!(TileGrid::new(10, 10, 256, 32).unwrap().len(), 1);
        assert!(TileGrid::new(10, 10, 32, 16).is_err());
    }

    /// A per-pixel model (the mean of its input channels) must come out of tiling, batching
    /// across tile rows and blending unchanged, whatever the batch and however the sources
    /// are read in column chunks (the file's own, or two sources in narrow chunks of
    /// different widths, so that tiles span chunks and chunks are handed back and read
    /// again out of step): on SalinasA (int16, read as int16) and, with the shared data, on
    /// the EnMAP mosaic (float32 with nodata around the tiles and in bad bands, a scale
    /// factor, 32-row file blocks).
    #[test]
    fn a_per_pixel_model_survives_tiles_batches_and_blending() {
        for file in scenes(vec![]) {
            let cube = Cube::open(&file).unwrap();
            let m = cube.meta();
            let (rows, cols, bands) = (m.rows, m.cols, m.bands);
            let (offset, scale) = (vec![0.1; bands], vec![0.05; bands]);
            // What the model sees of a pixel with data: physical values normalised, 0 for
            // a value without data (nodata in a bad band).
            let whole = cube.read(m.full_window()).unwrap();
            let expected = Array2::from_shape_fn((rows, cols), |(r, c)| {
                if !whole.valid[[r, c]] {
                    return f32::NAN;
                }
                let sum: f32 =
                    whole.data.slice(ndarray::s![r, c, ..]).iter().map(|&v| if v.is_nan() { 0.0 } else { (v - 0.1) / 0.05 }).sum();
                sum / bands as f32
            });
            let grid = TileGrid::new(rows, cols, 32, 8).unwrap();
            let one = [TileSource { cube: &cube, offset: &offset, scale: &scale }];
            // The same scene twice: the mean of both sources' channels is the same.
            let two =
                [TileSource { cube: &cube, offset: &offset, scale: &scale }, TileSource { cube: &cube, offset: &offset, scale: &scale }];
            // Chunks narrower than a tile, of different widths per source (few of them: each
            // read decodes the file blocks under it); stripes of one and two tiles.
            let narrow = |a: usize, b: usize| Some(vec![cols / a + 1, cols / b + 1]);
            // (sources, chunk widths, tiles per stripe)
            type Way<'s, 'c> = (&'s [TileSource<'c>], Option<Vec<usize>>, usize);
            let ways: [Way<'_, '_>; 4] =
                [(&one, None, usize::MAX), (&two, narrow(5, 3), usize::MAX), (&two, narrow(3, 7), 1), (&one, None, 2)];
            for (batch, (sources, chunks, per_stripe)) in [1, 3, 7, 50].into_iter().flat_map(|b| ways.iter().map(move |w| (b, w))) {
                let mut infer = |x: ArrayView4<'_, f32>| Ok(x.mean_axis(Axis(1)).unwrap().insert_axis(Axis(1)));
                let (got, counts) = run_over(&grid, batch, sources, &stripes(&grid, *per_stripe), chunks.clone(), &mut infer);
                let file = format!("{} ({} sources, chunks {chunks:?}, {per_stripe} tiles a stripe)", file.display(), sources.len());
                assert_eq!(counts.run + counts.skipped, grid.len(), "{file}: batch {batch}");
                if *per_stripe == usize::MAX {
                    assert_eq!(counts.batches, counts.run.div_ceil(batch), "{file}: batch {batch}");
                }
                for ((r, c), &want) in expected.indexed_iter() {
                    let have = got[[r, c]];
                    let ok = if want.is_nan() { have.is_nan() } else { (have - want).abs() < 1e-3 * want.abs().max(1.0) };
                    assert!(ok, "{file}: batch {batch}: pixel ({r}, {c}) {have} vs {want}");
                }
            }
        }
    }

    /// Runs `infer` over `grid` in `stripes` (chunks as the file's, or of the widths given);
    /// returns the first output channel, checking that each pixel is written once and each
    /// stripe's rows arrive top to bottom, and what the run did.
    fn run_over(
        grid: &TileGrid,
        batch: usize,
        sources: &[TileSource<'_>],
        stripes: &[Stripe],
        chunks: Option<Vec<usize>>,
        infer: &mut Infer<'_>,
    ) -> (Array2<f32>, TileCounts) {
        let mut got = Array2::<f32>::from_elem((grid.rows, grid.cols), -1.0);
        let mut written = Array2::<u8>::zeros((grid.rows, grid.cols));
        let mut next_row = std::collections::HashMap::new();
        let mut write = |window: Window, values: Array3<f32>| {
            let next = next_row.entry(window.col).or_insert(0);
            assert_eq!(window.row, *next, "the rows of the stripe from column {} arrive in order", window.col);
            *next += window.rows;
            assert_eq!(values.dim(), (window.rows, window.cols, 1));
            let at = s![window.row..window.row + window.rows, window.col..window.col + window.cols];
            got.slice_mut(at).assign(&values.index_axis(Axis(2), 0));
            written.slice_mut(at).mapv_inplace(|n| n + 1);
            Ok(())
        };
        let chunks = chunks.unwrap_or_else(|| sources.iter().map(|s| s.cube.read_chunk_cols()).collect());
        let counts = run_tiled_in(grid, batch, sources, stripes, chunks, 1, infer, &mut write, &ProgressBar::hidden()).unwrap();
        assert!(written.iter().all(|&n| n == 1), "every pixel written once: {:?}", written.iter().filter(|&&n| n != 1).count());
        (got, counts)
    }

    /// A model whose output depends on the whole tile (its input's mean over the tile, plus
    /// the pixel's own, weighted by where in the tile the pixel lies) gives, blended, the
    /// same scene run in stripes of one, two or three tiles as in one pass: the seams
    /// carry every tile's share across. (A stripe that finished its seam columns itself,
    /// or dropped the share it hands on, would differ there by whole tile means.)
    #[test]
    fn stripes_blend_across_their_seams_as_one_pass_does() {
        let cube = Cube::open(sample()).unwrap();
        let bands = cube.meta().bands;
        let (offset, scale) = (vec![1000.0; bands], vec![500.0; bands]);
        let sources = [TileSource { cube: &cube, offset: &offset, scale: &scale }];
        let grid = TileGrid::new(cube.meta().rows, cube.meta().cols, 24, 8).unwrap();
        let mut infer = |x: ArrayView4<'_, f32>| {
            let (n, _, t, _) = x.dim();
            let pixel = x.mean_axis(Axis(1)).unwrap();
            let mut out = Array4::<f32>::zeros((n, 1, t, t));
            for (k, pixel) in pixel.outer_iter().enumerate() {
                let mean = pixel.mean().unwrap();
                out.slice_mut(s![k, 0, .., ..]).indexed_iter_mut().for_each(|((i, j), v)| {
                    *v = mean * (1.0 + (i * t + j) as f32 / (t * t) as f32) + pixel[[i, j]];
                });
            }
            Ok(out)
        };
        let (whole, counts) = run_over(&grid, 2, &sources, &stripes(&grid, usize::MAX), None, &mut infer);
        assert_eq!(stripes(&grid, usize::MAX).len(), 1);
        for per_stripe in [1, 2, 3] {
            let striped = stripes(&grid, per_stripe);
            assert!(striped.len() > 1 && striped.iter().skip(1).all(|s| s.left_seam == 8), "{striped:?}");
            let (got, striped_counts) = run_over(&grid, 2, &sources, &striped, None, &mut infer);
            assert_eq!((striped_counts.run, striped_counts.skipped), (counts.run, counts.skipped));
            for ((r, c), &want) in whole.indexed_iter() {
                let have = got[[r, c]];
                assert!(
                    (have - want).abs() <= 1e-5 * want.abs().max(1.0),
                    "{per_stripe} tiles a stripe: pixel ({r}, {c}) {have} vs {want}"
                );
            }
        }
    }

    /// Stripes take every tile column once, cover the scene's columns, meet where their
    /// edge tiles overlap, and read what their tiles reflect at the scene's edges.
    #[test]
    fn stripes_share_only_the_overlap_of_their_edge_tiles() {
        let grid = TileGrid::new(50, 86, 32, 8).unwrap();
        for per_stripe in [1, 2, 3, usize::MAX] {
            let striped = stripes(&grid, per_stripe);
            let tiles: Vec<isize> = striped.iter().flat_map(|s| s.col_starts.clone()).collect();
            assert_eq!(tiles, grid.col_starts());
            assert_eq!((striped[0].cols.start, striped[striped.len() - 1].cols.end), (0, 86));
            assert_eq!((striped[0].left_seam, striped[striped.len() - 1].right_seam), (0, 0));
            for pair in striped.windows(2) {
                assert_eq!(pair[0].cols.end - pair[1].cols.start, 8, "{pair:?}");
                assert_eq!((pair[0].right_seam, pair[1].left_seam), (8, 8));
            }
            for stripe in &striped {
                let reads = stripe.col_starts.iter().flat_map(|&c| (c..c + 32).map(|j| reflect(j, 86)));
                assert!(reads.clone().all(|c| stripe.read.contains(&c)) && reads.clone().any(|c| c == stripe.read.start));
            }
        }
    }

    /// A cut tile holds, value by value, the normalised physical value of the scene pixel
    /// it mirrors (0 and not valid where that pixel has no data), at the edges too, where
    /// its columns run right to left, and across chunks of any width.
    #[test]
    fn cut_tiles_hold_the_mirrored_pixels_normalised() {
        let dir = tempfile::tempdir().unwrap();
        for file in scenes(vec![with_edge_voids(&sample(), &dir.path().join("voids.tif"))]) {
            let cube = Cube::open(&file).unwrap();
            let m = cube.meta();
            let (rows, cols, bands) = (m.rows, m.cols, m.bands);
            let offset: Vec<f64> = (0..bands).map(|b| 0.01 * b as f64).collect();
            let scale: Vec<f64> = (0..bands).map(|b| 0.5 + 0.001 * b as f64).collect();
            let whole = cube.read(m.full_window()).unwrap();
            let t = 32;
            let grid = TileGrid::new(rows, cols, t, 8).unwrap();
            let one_stripe = &stripes(&grid, usize::MAX)[0];
            let layout = TiledRun {
                grid: &grid,
                stripe: one_stripe,
                batch: 1,
                channels: bands,
                out_channels: 1,
                strip_height: t,
                chunk_cols: vec![],
            };
            let (first_row, last_col) = (-12, cols as isize - 20);
            // Chunks narrower than the mirrored margin, and wider than the scene.
            for chunk_cols in [5, 13, cols + 3] {
                for (row, col) in [(first_row, -12), (first_row, last_col), (rows as isize - 20, last_col), (4, 7)] {
                    let (tile_rows, tile_cols) = (layout.tile_rows(row), layout.tile_cols(col));
                    let (r0, r1) = (*tile_rows.iter().min().unwrap(), *tile_rows.iter().max().unwrap() + 1);
                    let mut source = HeldSource {
                        meta: m,
                        offset: &offset,
                        scale: &scale,
                        chunk_cols,
                        read: 0..cols,
                        chunks: (0..cols.div_ceil(chunk_cols)).map(|_| None).collect(),
                    };
                    // Only the chunks under the tile, as the cutting thread has them.
                    for k in source.chunks_for(&tile_cols) {
                        let mut chunk = HeldChunk::new(&cube, 0, k * chunk_cols..((k + 1) * chunk_cols).min(cols), t);
                        chunk.hold(&cube, r0, r1).unwrap();
                        source.chunks[k] = Some(chunk);
                    }
                    let mut out = vec![f32::NAN; bands * t * t];
                    let mut valid = Array2::from_elem((t, t), true);
                    source.cut(&tile_rows, &tile_cols, &mut out, &mut valid);
                    let at = format!("{}: tile at ({row}, {col}), chunks of {chunk_cols} columns", file.display());
                    for (i, &r) in tile_rows.iter().enumerate() {
                        for (j, &c) in tile_cols.iter().enumerate() {
                            assert_eq!(valid[[i, j]], whole.valid[[r, c]], "{at}: valid at tile pixel ({i}, {j})");
                            for b in 0..bands {
                                let v = whole.data[[r, c, b]];
                                let want = if v.is_nan() || !whole.valid[[r, c]] { 0.0 } else { (v - offset[b] as f32) / scale[b] as f32 };
                                let have = out[(b * t + i) * t + j];
                                assert!(
                                    (have - want).abs() <= 1e-5 * want.abs().max(1.0),
                                    "{at}: band {b}, pixel ({i}, {j}): {have} vs {want}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    /// The bundled SalinasA sample.
    fn sample() -> std::path::PathBuf {
        hypersynth_data::fixtures::samples_dir().join("salinasA/salinasA.tif")
    }

    /// The scenes the tiling tests read: the sample, `more`, and the EnMAP mosaic (224
    /// bands, gaps without data) where the shared data set is at hand.
    fn scenes(more: Vec<std::path::PathBuf>) -> Vec<std::path::PathBuf> {
        let mosaic = hypersynth_data::fixtures::shared_data_dir().map(|d| d.join("enmap_potsdam/mosaic/enmap_potsdam_mosaic.tif"));
        std::iter::once(sample()).chain(more).chain(mosaic).collect()
    }

    /// A float32 copy of `scene` at `out` in physical values, with pixels without data
    /// near its left and right edges, unevenly spaced, so that a mirrored column cut in the
    /// wrong order finds another column's data.
    fn with_edge_voids(scene: &std::path::Path, out: &std::path::Path) -> std::path::PathBuf {
        let cube = Cube::open(scene).unwrap();
        let mut meta = cube.meta().clone();
        let mut data = cube.read(meta.full_window()).unwrap().data;
        let cols = meta.cols;
        for r in (0..meta.rows).step_by(3) {
            for c in [0, 2, 3, cols - 1, cols - 3, cols - 6, cols - 7] {
                data.slice_mut(ndarray::s![r, c, ..]).fill(-9999.0);
            }
        }
        (meta.dtype, meta.nodata) = (hypersynth_data::SampleType::Float32, Some(-9999.0));
        meta.scale.fill(1.0);
        meta.offset.fill(0.0);
        let mut writer = hypersynth_data::CogWriter::create(out, &meta, hypersynth_data::Compression::Deflate).unwrap();
        writer.write(meta.full_window(), data.view()).unwrap();
        writer.finish().unwrap()
    }

    #[test]
    fn blending_a_constant_gives_the_constant_everywhere() {
        let grid = TileGrid::new(40, 37, 16, 6).unwrap();
        let weights = grid.weights();
        let mut strip = Strip::new(&grid, &stripes(&grid, usize::MAX)[0], 1, 16, Seams::default());
        let rows = grid.row_starts();
        let mut out = Array2::<f32>::zeros((40, 37));
        for (k, &r) in rows.iter().enumerate() {
            for &c in &grid.col_starts() {
                let valid =
                    Array2::from_shape_fn((16, 16), |(i, j)| (0..40).contains(&(r + i as isize)) && (0..37).contains(&(c + j as isize)));
                strip.add(r, c, Array3::from_elem((1, 16, 16), 0.25).view(), valid.view(), &weights).unwrap();
            }
            let next = rows.get(k + 1).copied().unwrap_or(40);
            if let Some((window, values)) = strip.finish_until(next, 40).unwrap() {
                for ((i, j, _), &v) in values.indexed_iter() {
                    out[[window.row + i, window.col + j]] = v;
                }
            }
        }
        assert!(out.iter().all(|&v| (v - 0.25).abs() < 1e-6), "{out:?}");
    }
}
