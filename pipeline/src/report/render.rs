//! The report's human pages: `summary.md` and the self-contained `report.html`, both from
//! the same tables.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::Result;
use hypersynth_spectral::{ClassifierKind, Comparison, Quality, TrainingSet, Verdict, principal_axes};
use ndarray::{Array2, Axis};

use super::ReportInput;
use super::plots::{self, PointSet};

/// What the columns mean, shown under the tables of both pages.
const LEGEND: &str = "Real rows are the untouched test split. Angle: spectral angle between class means (0 ideal). \
Diversity: mean pairwise spectral angle, synthetic over real (1 ideal; below 1 too alike). \
KS: per-band Kolmogorov-Smirnov statistic (0 ideal). MMD²: RBF kernel, median heuristic (0 ideal). \
C2ST: balanced accuracy of a classifier separating synthetic from real (0.5 ideal, 1 fully separable). \
DCR: mean distance to the closest training pixel, synthetic over real test (below 1 suggests copying). \
TSTR: F1 on real test pixels of a classifier that saw only synthetic spectra of the class.";

/// A table of text cells.
pub(crate) struct Table {
    /// The column headers.
    pub headers: Vec<String>,
    /// The rows, one cell per header.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    fn markdown(&self) -> String {
        let line = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
        let mut out = line(&self.headers);
        out.push_str(&line(&vec!["---".to_string(); self.headers.len()]));
        for row in &self.rows {
            out.push_str(&line(row));
        }
        out
    }

    /// The table as HTML.
    pub fn html(&self) -> String {
        let cells = |tag: &str, cells: &[String]| cells.iter().map(|c| format!("<{tag}>{}</{tag}>", escape(c))).collect::<String>();
        let body: String = self.rows.iter().map(|r| format!("<tr>{}</tr>", cells("td", r))).collect();
        format!("<table><thead><tr>{}</tr></thead><tbody>{body}</tbody></table>", cells("th", &self.headers))
    }
}

/// `text` safe inside HTML.
pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn number(v: f64, decimals: usize) -> String {
    if v.is_finite() { format!("{v:.decimals$}") } else { "–".into() }
}

fn class_table(quality: &Quality, names: &BTreeMap<u32, String>) -> Table {
    let mut headers: Vec<String> =
        ["class", "name", "train", "test", "synthetic", "angle (°)", "diversity", "KS max", "KS mean", "MMD²"].map(String::from).to_vec();
    headers.extend(ClassifierKind::ALL.map(|k| format!("C2ST {}", k.name())));
    headers.push("DCR".into());
    headers.extend(ClassifierKind::ALL.map(|k| format!("TSTR F1 {}", k.name())));
    let rows = quality
        .classes
        .iter()
        .map(|c| {
            let mut row = vec![
                c.class.to_string(),
                names.get(&c.class).cloned().unwrap_or_default(),
                c.real_train.to_string(),
                c.real_test.to_string(),
                c.synthetic.to_string(),
                number(c.mean_angle_deg, 2),
                number(c.diversity_ratio, 2),
                number(c.ks_max(), 2),
                number(c.ks_mean(), 2),
                number(c.mmd, 3),
            ];
            row.extend(ClassifierKind::ALL.map(|k| number(c.c2st.get(&k).copied().unwrap_or(f64::NAN), 2)));
            row.push(number(c.dcr_ratio, 2));
            row.extend(ClassifierKind::ALL.map(|k| number(c.tstr_f1.get(&k).copied().unwrap_or(f64::NAN), 2)));
            row
        })
        .collect();
    Table { headers, rows }
}

fn lift_table(quality: &Quality) -> Table {
    let classes: Vec<u32> = quality.classes.iter().map(|c| c.class).collect();
    let mut headers: Vec<String> = ["training set", "classifier", "OA", "macro-F1"].map(String::from).to_vec();
    headers.extend(classes.iter().map(|c| format!("F1 class {c}")));
    let rows = quality
        .lift
        .iter()
        .map(|l| {
            let mut row = vec![
                l.training_set.name().to_string(),
                l.classifier.name().to_string(),
                number(l.scores.overall_accuracy, 3),
                number(l.scores.macro_f1, 3),
            ];
            row.extend(classes.iter().map(|c| number(l.scores.f1.get(c).copied().unwrap_or(f64::NAN), 3)));
            row
        })
        .collect();
    Table { headers, rows }
}

/// The verdict's sentences: per classifier, real + synthetic against real only and against
/// real + SMOTE on the augmented classes' mean F1.
fn verdict_sentences(verdict: &Verdict) -> Vec<String> {
    let part = |c: &Comparison| {
        format!(
            "{:+.1} points against {} ({:.3}; 95 % interval {:+.1} to {:+.1} over resampled test pixels, {} the noise)",
            100.0 * c.difference(),
            if c.against == TrainingSet::Real { "real pixels only" } else { "real+smote" },
            c.without,
            100.0 * c.interval.0,
            100.0 * c.interval.1,
            if c.beyond_noise() { "beyond" } else { "within" }
        )
    };
    ClassifierKind::ALL
        .iter()
        .filter_map(|&kind| {
            let mine: Vec<&Comparison> = verdict.comparisons.iter().filter(|c| c.classifier == kind).collect();
            let first = mine.first()?;
            let helps = mine.iter().all(|c| c.difference() > 0.0 && c.beyond_noise());
            let hurts = mine.iter().any(|c| c.difference() < 0.0 && c.beyond_noise());
            let word = if helps {
                "help"
            } else if hurts {
                "hurt"
            } else {
                "do not clearly help"
            };
            Some(format!(
                "{}: the synthetic spectra {word} — the augmented classes' mean F1 with them is {:.3}, {}.",
                kind.name(),
                first.with,
                mine.iter().map(|c| part(c)).collect::<Vec<_>>().join("; ")
            ))
        })
        .collect()
}

/// A class's synthetic, real test and real training spectra (`[synthetic, test, training]`)
/// on the first two principal components of its real test spectra (bands standardised by
/// their spread in those), as SVG titled by `class`; `None` with fewer than 3 test spectra.
fn class_scatter(class: &str, [synthetic, test, training]: [&Array2<f32>; 3]) -> Result<Option<String>> {
    if test.nrows() < 3 || test.ncols() < 2 {
        return Ok(None);
    }
    let test64 = test.mapv(f64::from);
    let spread = test64.std_axis(Axis(0), 0.0).mapv(|s| if s > 0.0 { s } else { 1.0 });
    let (centre, axes) = principal_axes(&(&test64 / &spread), 2)?;
    let set = |label, colour, spectra: &Array2<f32>| {
        let scores = (spectra.mapv(f64::from) / &spread - &centre).dot(&axes);
        PointSet { label, colour, points: scores.outer_iter().map(|r| (r[0], r[1])).collect() }
    };
    let sets = [
        set("synthetic", plots::SYNTHETIC, synthetic),
        set("real (test)", plots::REAL, test),
        set("real (training)", plots::TRAINING, training),
    ];
    let title = format!("{class}: principal components of its real test spectra");
    Ok(Some(plots::scatter_svg(&title, ("PC 1", "PC 2"), &sets)?))
}

/// A class's id and name for an axis, cut to [`LABEL_CHARS`] characters.
fn short_label(class: u32, name: &str) -> String {
    let label = if name.is_empty() { class.to_string() } else { format!("{class} {name}") };
    if label.chars().count() > LABEL_CHARS { label.chars().take(LABEL_CHARS - 1).chain(['…']).collect() } else { label }
}

/// The longest class label under a bar group.
const LABEL_CHARS: usize = 16;

/// `summary.md`.
pub fn summary_markdown(input: &ReportInput<'_>, quality: &Quality, verdict: &Verdict) -> String {
    let warnings: String = verdict.warnings.iter().map(|w| format!("- warning: {w}\n")).collect();
    format!(
        "# {}\n\n## Verdict\n\n{}\n{warnings}\n## Synthetic vs real, per class\n\n{}\n{LEGEND}\n\n## Augmentation lift on the real test split\n\n{}\n",
        input.title,
        verdict_sentences(verdict).join("\n\n") + "\n",
        class_table(quality, input.class_names).markdown(),
        lift_table(quality).markdown()
    )
}

/// `report.html`: the tables plus the lift bars, the KS curves and per class the real and
/// synthetic spectra, every plot inline as SVG.
pub fn report_html(input: &ReportInput<'_>, quality: &Quality, verdict: &Verdict) -> Result<String> {
    let sets = TrainingSet::ALL.map(TrainingSet::name);
    let kinds = ClassifierKind::ALL.map(ClassifierKind::name);
    let lift_values = |metric: fn(&hypersynth_spectral::Scores) -> f64| -> Vec<Vec<f64>> {
        TrainingSet::ALL
            .iter()
            .map(|&set| ClassifierKind::ALL.iter().map(|&k| quality.lift_of(k, set).map_or(f64::NAN, |l| metric(&l.scores))).collect())
            .collect()
    };
    let name = |class: u32| input.class_names.get(&class).cloned().unwrap_or_default();
    let mut body = String::new();
    writeln!(body, "<h1>{}</h1>", escape(input.title))?;
    writeln!(body, "<h2>Verdict</h2>")?;
    for sentence in verdict_sentences(verdict) {
        writeln!(body, "<p class=\"verdict\">{}</p>", escape(&sentence))?;
    }
    if !verdict.warnings.is_empty() {
        let items: String = verdict.warnings.iter().map(|w| format!("<li>{}</li>", escape(w))).collect();
        writeln!(body, "<ul class=\"warnings\">{items}</ul>")?;
    }
    writeln!(body, "<h2>Augmentation lift on the real test split</h2>")?;
    writeln!(body, "<div class=\"plots\">{}", plots::lift_svg("Macro-F1", &sets, &kinds, &lift_values(|s| s.macro_f1))?)?;
    writeln!(body, "{}</div>", plots::lift_svg("Overall accuracy", &sets, &kinds, &lift_values(|s| s.overall_accuracy))?)?;
    // Per augmented class, what its synthetic spectra changed, against each alternative.
    let labels: Vec<String> = quality.classes.iter().map(|c| short_label(c.class, &name(c.class))).collect();
    let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
    writeln!(body, "<div class=\"plots\">")?;
    for against in [TrainingSet::Real, TrainingSet::Smote] {
        let differences: Vec<Vec<f64>> = quality
            .classes
            .iter()
            .map(|c| {
                let f1 = |kind, set| quality.lift_of(kind, set).and_then(|l| l.scores.f1.get(&c.class).copied());
                ClassifierKind::ALL
                    .iter()
                    .map(|&k| f1(k, TrainingSet::Gan).zip(f1(k, against)).map_or(f64::NAN, |(g, o)| 100.0 * (g - o)))
                    .collect()
            })
            .collect();
        let title = format!("F1 of each augmented class: real+gan minus {}", against.name());
        writeln!(body, "{}", plots::difference_svg(&title, &labels, &kinds, &differences)?)?;
    }
    writeln!(body, "</div>")?;
    writeln!(body, "{}", lift_table(quality).html())?;
    writeln!(
        body,
        "<h2>Synthetic vs real, per class</h2>\n{}\n<p class=\"legend\">{}</p>",
        class_table(quality, input.class_names).html(),
        escape(LEGEND)
    )?;
    let curves: Vec<(String, Vec<f64>)> =
        quality.classes.iter().map(|c| (format!("{} {}", c.class, name(c.class)), c.ks.clone())).collect();
    writeln!(body, "{}", plots::ks_svg(input.wavelengths_nm, &curves)?)?;
    writeln!(body, "<h2>Spectra per class</h2>\n<div class=\"plots\">")?;
    for c in &quality.classes {
        let (real, synthetic) = (input.test.class_spectra(c.class), input.synthetic.class_spectra(c.class));
        let title = format!("class {} {}: {} real test, {} synthetic", c.class, name(c.class), real.nrows(), synthetic.nrows());
        writeln!(body, "{}", plots::spectra_svg(&title, input.wavelengths_nm, real.view(), synthetic.view())?)?;
        let seen = input.train.class_spectra(c.class);
        if let Some(scatter) = class_scatter(&format!("class {} {}", c.class, name(c.class)), [&synthetic, &real, &seen])? {
            writeln!(body, "{scatter}")?;
        }
    }
    writeln!(body, "</div>")?;
    Ok(html_page(input.title, &body))
}

/// A self-contained HTML page titled `title` (escaped) around `body` (HTML), in the
/// report's style.
pub(crate) fn html_page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head>\n<body>\n{body}</body></html>\n",
        escape(title)
    )
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222;max-width:1500px}\
table{border-collapse:collapse;margin:1em 0;font-size:0.9em}\
th,td{border:1px solid #ccc;padding:0.3em 0.6em;text-align:right}\
th{background:#f2f2f2}td:nth-child(2){text-align:left}\
.plots{display:flex;flex-wrap:wrap;gap:1em}.legend{font-size:0.85em;color:#555;max-width:60em}\
.verdict{font-size:1.05em;max-width:60em}.warnings li{color:#a40;max-width:60em}";
