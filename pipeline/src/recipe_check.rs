//! How `augment`'s report checks an exemplar model made from every labelled pixel (the
//! default of `train spectral`): no pixel is left that the model never saw, so the report
//! fits the same recipe (the settings in the model's card) again on all but a seeded test
//! share, draws its spectra from that fit and selects them as `augment` does, and scores
//! them on the share held out. The exemplar model takes well under a second to fit, so
//! the check costs about what the report costs; it measures the recipe on a fifth fewer
//! pixels than the model written used, so it errs on the side of too little lift.

use anyhow::{Context, Result};
use hypersynth_onnx_format::ModelCard;
use hypersynth_spectral::{ExemplarConfig, ExemplarModel, NearestRealFilter, Split};
use ndarray::{Array2, Axis, concatenate};
use rand_distr::{Distribution, StandardNormal};

use crate::commands::augment::{Augment, Selection, class_noise, fill_class, plan};
use crate::labelled::Labelled;

/// The exemplar model's settings in `card`, when it is one (`training.generator` is
/// `exemplar`).
pub fn exemplar_settings(card: &ModelCard) -> Option<ExemplarConfig> {
    let training = &card.training;
    if training.get("generator")?.as_str()? != "exemplar" {
        return None;
    }
    serde_json::from_value(training.get("exemplar")?.clone()).ok()
}

/// The synthetic spectra (`[n, bands]` and their class ids) of the recipe `exemplar`,
/// fitted on `split.train` of `data` with the classes of `card`, for `settings`' target
/// against those rows' counts, drawn from `settings.seed`'s per-class streams and kept as
/// `settings.selection` keeps them (against every row of `split.train`).
pub fn refit_spectra(
    card: &ModelCard,
    exemplar: &ExemplarConfig,
    data: &Labelled,
    split: &Split,
    settings: &Augment,
) -> Result<(Array2<f32>, Vec<u32>)> {
    let ids: Vec<u32> = card.classes.iter().map(|c| c.id).collect();
    // The model's classes present among the rows: the others cannot be refitted or augmented.
    let rows: Vec<usize> = split.train.iter().copied().filter(|&r| ids.contains(&data.labels[r])).collect();
    let present: Vec<u32> = ids.iter().copied().filter(|id| rows.iter().any(|&r| data.labels[r] == *id)).collect();
    let index = |id: u32| present.iter().position(|&c| c == id).unwrap_or(0) as u32;
    let real = data.spectra.select(Axis(0), &rows);
    let labels: Vec<u32> = rows.iter().map(|&r| data.labels[r]).collect();
    let classes: Vec<u32> = labels.iter().map(|&id| index(id)).collect();
    let model = ExemplarModel::fit(real.view(), &classes, present.len(), exemplar).context("fitting the recipe again")?;
    // Selected against every training row, as augment selects the model's spectra.
    let filter = match settings.selection {
        Selection::NearestReal => {
            let all_labels: Vec<u32> = split.train.iter().map(|&r| data.labels[r]).collect();
            Some(NearestRealFilter::new(data.spectra.select(Axis(0), &split.train).view(), &all_labels)?)
        }
        Selection::All => None,
    };
    let counts = hypersynth_data::class_counts(labels.iter().copied());
    let (mut spectra, mut made_ids) = (Vec::new(), Vec::new());
    for (id, n) in plan(settings.target, &counts, card)? {
        let class = index(id) as usize;
        let mut rng = class_noise(settings.seed, id);
        let mut draw = |m: usize| {
            let mut out = Array2::<f32>::zeros((m, real.ncols()));
            for mut row in out.rows_mut() {
                let z: Vec<f64> = (0..model.latent()).map(|_| StandardNormal.sample(&mut rng)).collect();
                row.assign(&model.sample(class, &z).mapv(|v| v as f32));
            }
            Ok(out)
        };
        let mut keep = |kept: Array2<f32>| {
            made_ids.extend(std::iter::repeat_n(id, kept.nrows()));
            spectra.push(kept);
            true
        };
        fill_class(id, n, settings.batch, filter.as_ref(), &mut draw, &mut keep)?;
    }
    let views: Vec<_> = spectra.iter().map(|s| s.view()).collect();
    let spectra = if views.is_empty() { Array2::zeros((0, real.ncols())) } else { concatenate(Axis(0), &views)? };
    Ok((spectra, made_ids))
}
