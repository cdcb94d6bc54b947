//! The report's plots, drawn with plotters as SVG text for embedding in the HTML page.

use std::ops::Range;

use anyhow::{Result, anyhow};
use ndarray::{ArrayView2, Axis};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

const WIDTH: u32 = 720;
const HEIGHT: u32 = 340;
pub(super) const REAL: RGBColor = RGBColor(31, 119, 180);
pub(super) const SYNTHETIC: RGBColor = RGBColor(214, 39, 40);
pub(super) const TRAINING: RGBColor = RGBColor(40, 40, 40);
const FONT: &str = "sans-serif";

/// Per band mean and standard deviation of `x` (`[n, bands]`).
fn mean_std(x: ArrayView2<'_, f32>) -> (Vec<f64>, Vec<f64>) {
    let x = x.mapv(f64::from);
    let mean = x.mean_axis(Axis(0)).map_or_else(|| vec![f64::NAN; x.ncols()], |m| m.to_vec());
    let std = if x.nrows() > 1 { x.std_axis(Axis(0), 0.0).to_vec() } else { vec![0.0; x.ncols()] };
    (mean, std)
}

fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo.is_finite() && hi > lo { (lo, hi) } else { (0.0, 1.0) }
}

fn drawing_error<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("drawing a plot: {e}")
}

type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// One chart as SVG text: a white canvas with `title` and axes over `x` and `y`, on which
/// `draw` draws its mesh and series, then the series labels at `legend`.
fn svg_chart(
    title: &str,
    x: Range<f64>,
    y: Range<f64>,
    legend: SeriesLabelPosition,
    draw: impl FnOnce(&mut Chart<'_, '_>) -> Result<()>,
) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(drawing_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 16))
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d(x, y)
            .map_err(drawing_error)?;
        draw(&mut chart)?;
        chart
            .configure_series_labels()
            .position(legend)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(drawing_error)?;
        root.present().map_err(drawing_error)?;
    }
    Ok(svg)
}

/// A gap between neighbouring bands wider than this many times the median band spacing
/// means bands are missing there (removed water-vapour bands): lines stop at it.
const GAP_SPACINGS: f64 = 3.0;

/// The runs of bands a spectrum is drawn through, as index ranges: a run ends where the
/// wavelength goes back (a second detector overlapping the first, as EnMAP's SWIR begins
/// below where its VNIR ends) or jumps by more than [`GAP_SPACINGS`] median spacings.
fn segments(wavelengths_nm: &[f64]) -> Vec<Range<usize>> {
    let mut steps: Vec<f64> = wavelengths_nm.windows(2).map(|w| w[1] - w[0]).filter(|d| *d > 0.0).collect();
    steps.sort_by(f64::total_cmp);
    let gap = steps.get(steps.len() / 2).map_or(f64::INFINITY, |median| GAP_SPACINGS * median);
    let mut runs = Vec::new();
    let mut start = 0;
    for i in 1..wavelengths_nm.len() {
        let step = wavelengths_nm[i] - wavelengths_nm[i - 1];
        if step <= 0.0 || step > gap {
            runs.push(start..i);
            start = i;
        }
    }
    if start < wavelengths_nm.len() {
        runs.push(start..wavelengths_nm.len());
    }
    runs
}

/// Mean ± one standard deviation of the real and the synthetic spectra of one class
/// against wavelength, each run of contiguous bands ([`segments`]) drawn on its own.
pub fn spectra_svg(title: &str, wavelengths_nm: &[f64], real: ArrayView2<'_, f32>, synthetic: ArrayView2<'_, f32>) -> Result<String> {
    // Synthetic first and wide, then real on top and narrow: both means stay visible where
    // they agree.
    let sets = [("synthetic", SYNTHETIC, 4, mean_std(synthetic)), ("real (test)", REAL, 2, mean_std(real))];
    let (x_lo, x_hi) = range(wavelengths_nm.iter().copied());
    let (y_lo, y_hi) = range(sets.iter().flat_map(|(_, _, _, (m, s))| m.iter().zip(s).flat_map(|(m, s)| [m - s, m + s])));
    let runs = segments(wavelengths_nm);
    svg_chart(title, x_lo..x_hi, y_lo..y_hi, SeriesLabelPosition::UpperRight, |chart| {
        chart.configure_mesh().x_desc("wavelength (nm)").y_desc("value (cube units)").draw().map_err(drawing_error)?;
        for &(label, colour, width, (ref mean, ref std)) in &sets {
            let point = |i: usize, sign: f64| (wavelengths_nm[i], mean[i] + sign * std[i]);
            let bands = runs.iter().map(|r| {
                Polygon::new(
                    r.clone().map(|i| point(i, 1.0)).chain(r.clone().rev().map(|i| point(i, -1.0))).collect::<Vec<_>>(),
                    colour.mix(0.25),
                )
            });
            chart.draw_series(bands).map_err(drawing_error)?;
            for (n, run) in runs.iter().enumerate() {
                let drawn = chart
                    .draw_series(LineSeries::new(run.clone().map(|i| point(i, 0.0)), colour.stroke_width(width)))
                    .map_err(drawing_error)?;
                if n == 0 {
                    drawn
                        .label(format!("{label}: mean ± std"))
                        .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], colour.stroke_width(width)));
                }
            }
        }
        Ok(())
    })
}

/// Points of one colour in a scatter plot, and what they are.
pub struct PointSet<'a> {
    /// The legend's name of the set.
    pub label: &'a str,
    /// Its colour.
    pub colour: RGBColor,
    /// Its points.
    pub points: Vec<(f64, f64)>,
}

/// Points of several sets on two axes (a class's spectra on its first two principal
/// components), one colour each, the later sets drawn over the earlier ones. The view spans
/// the 1st to 99th percentile of every axis, widened by a quarter, so that a few outliers do
/// not squeeze the rest into a line; points beyond it are left out and counted in the title.
pub fn scatter_svg(title: &str, axes: (&str, &str), sets: &[PointSet<'_>]) -> Result<String> {
    let span = |pick: fn(&(f64, f64)) -> f64| {
        let mut v: Vec<f64> = sets.iter().flat_map(|set| set.points.iter().map(pick)).filter(|v| v.is_finite()).collect();
        v.sort_by(f64::total_cmp);
        let at = |q: f64| v.get(((v.len().max(1) - 1) as f64 * q).round() as usize).copied();
        let (lo, hi) = range(at(0.01).into_iter().chain(at(0.99)));
        let pad = 0.25 * (hi - lo);
        lo - pad..hi + pad
    };
    let (x, y) = (span(|p| p.0), span(|p| p.1));
    let inside = |p: &&(f64, f64)| x.contains(&p.0) && y.contains(&p.1);
    let outside: usize = sets.iter().map(|set| set.points.len() - set.points.iter().filter(inside).count()).sum();
    let title = match outside {
        0 => title.to_string(),
        1 => format!("{title} (1 outlier not shown)"),
        n => format!("{title} ({n} outliers not shown)"),
    };
    svg_chart(&title, x.clone(), y.clone(), SeriesLabelPosition::UpperRight, |chart| {
        chart.configure_mesh().x_desc(axes.0).y_desc(axes.1).draw().map_err(drawing_error)?;
        for set in sets {
            let style = set.colour.mix(0.6).filled();
            chart
                .draw_series(set.points.iter().filter(inside).map(|&p| Circle::new(p, 2, style)))
                .map_err(drawing_error)?
                .label(format!("{} ({})", set.label, set.points.len()))
                .legend(move |(x, y)| Circle::new((x + 6, y), 3, style));
        }
        Ok(())
    })
}

/// One line per class (broken as [`segments`] says): the Kolmogorov-Smirnov statistic of
/// each band.
pub fn ks_svg(wavelengths_nm: &[f64], curves: &[(String, Vec<f64>)]) -> Result<String> {
    let (x_lo, x_hi) = range(wavelengths_nm.iter().copied());
    let title = "Per-band Kolmogorov-Smirnov statistic, synthetic vs real (0 = same distribution)";
    svg_chart(title, x_lo..x_hi, 0.0..1.0, SeriesLabelPosition::UpperRight, |chart| {
        chart.configure_mesh().x_desc("wavelength (nm)").y_desc("KS statistic").draw().map_err(drawing_error)?;
        let runs = segments(wavelengths_nm);
        for (i, (label, ks)) in curves.iter().enumerate() {
            let colour = Palette99::pick(i).to_rgba();
            for (n, run) in runs.iter().enumerate() {
                let points = run.clone().filter_map(|b| Some((wavelengths_nm[b], *ks.get(b)?))).filter(|(_, v)| v.is_finite());
                let drawn = chart.draw_series(LineSeries::new(points, colour.stroke_width(2))).map_err(drawing_error)?;
                if n == 0 {
                    drawn.label(label.clone()).legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], colour.stroke_width(2)));
                }
            }
        }
        Ok(())
    })
}

/// Grouped bars: for each training set (group, centred on its index), one bar per
/// classifier. The score axis starts a little below the lowest score (at a multiple of
/// 0.05), so that differences of a few points show.
pub fn lift_svg(title: &str, groups: &[&str], classifiers: &[&str], values: &[Vec<f64>]) -> Result<String> {
    let lowest = values.iter().flatten().copied().filter(|v| v.is_finite()).fold(1.0, f64::min);
    let floor = ((lowest - 0.05) / 0.05).floor().max(0.0) * 0.05;
    let bars = Bars { groups, classifiers, values, base: floor };
    bars.svg(title, floor..1.0, "score on the real test split")
}

/// Grouped bars around 0: for each class (group), one bar per classifier, a difference in
/// points (the class's F1 with the synthetic spectra minus without them); the axis spans at
/// least ±1 point and always shows 0.
pub fn difference_svg(title: &str, groups: &[&str], classifiers: &[&str], values: &[Vec<f64>]) -> Result<String> {
    let (lo, hi) = range(values.iter().flatten().copied().chain([-1.0, 1.0]));
    let pad = 0.1 * (hi - lo);
    let bars = Bars { groups, classifiers, values, base: 0.0 };
    bars.svg(title, lo - pad..hi + pad, "F1 difference (points)")
}

/// Bars from `base` to `values[group][classifier]`, one colour per classifier.
struct Bars<'a> {
    groups: &'a [&'a str],
    classifiers: &'a [&'a str],
    values: &'a [Vec<f64>],
    base: f64,
}

impl Bars<'_> {
    fn svg(&self, title: &str, y: Range<f64>, y_desc: &str) -> Result<String> {
        let Bars { groups, classifiers, values, base } = *self;
        let bar = 0.8 / classifiers.len().max(1) as f64;
        // One group's width of room right of the last group holds the legend, over no bar.
        svg_chart(title, -0.5..groups.len() as f64 + 0.5, y, SeriesLabelPosition::UpperRight, |chart| {
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(4 * (groups.len() + 1))
                .x_label_formatter(&|x| {
                    let nearest = x.round();
                    let on_group = (x - nearest).abs() < 1e-6 && nearest >= 0.0;
                    if on_group { groups.get(nearest as usize).map_or(String::new(), |g| g.to_string()) } else { String::new() }
                })
                .y_desc(y_desc)
                .draw()
                .map_err(drawing_error)?;
            if base != chart.y_range().start {
                let across = [(-0.5, base), (groups.len() as f64 - 0.5, base)];
                chart.draw_series(LineSeries::new(across, BLACK.stroke_width(1))).map_err(drawing_error)?;
            }
            for (k, name) in classifiers.iter().enumerate() {
                let colour = Palette99::pick(k).to_rgba();
                let bars = (0..groups.len()).filter_map(|g| {
                    let v = *values.get(g)?.get(k)?;
                    let left = g as f64 - 0.4 + k as f64 * bar;
                    v.is_finite().then(|| Rectangle::new([(left + 0.02, base), (left + bar - 0.02, v)], colour.filled()))
                });
                chart
                    .draw_series(bars)
                    .map_err(drawing_error)?
                    .label(name.to_string())
                    .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], colour.filled()));
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_stop_at_missing_bands_and_where_a_second_detector_starts() {
        // 10 nm bands, the ones from 1340 to 1440 nm removed, then a second detector from
        // 1405 nm (EnMAP-like overlap after a first detector ending at 1500 nm).
        let mut w: Vec<f64> = (0..=110).map(|i| 400.0 + 10.0 * f64::from(i)).filter(|&x| !(1340.0..=1440.0).contains(&x)).collect();
        let first = w.len();
        w.extend((0..20).map(|i| 1405.0 + 10.0 * f64::from(i)));
        let cut = w.iter().position(|&x| x == 1450.0).unwrap();
        assert_eq!(segments(&w), vec![0..cut, cut..first, first..w.len()]);
        // Evenly spaced bands are one run; one band is one run; none is none.
        assert_eq!(segments(&[400.0, 410.0, 420.0, 435.0]), vec![0..4]);
        assert_eq!(segments(&[500.0]), vec![0..1]);
        assert!(segments(&[]).is_empty());
    }
}
