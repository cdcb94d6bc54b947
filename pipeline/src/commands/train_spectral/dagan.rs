//! `train spectral --generator dagan`: the exemplar-conditioned GAN, trained on pairs of
//! class-mates of every training pixel (in standardised logarithms) and exported with its
//! exemplars inside the graph.

use anyhow::Result;
use hypersynth_models::dagan::{DaganConfig, ExemplarTable};
use hypersynth_models::dagan_training::{self, DaganTrainConfig, PairData};
use hypersynth_onnx_format::{Normalisation, encode_model};
use hypersynth_spectral::{LogScale, class_mates, within_class_axes};
use ndarray::Axis;
use serde_json::json;

use super::{DaganSettings, TrainOutcome, TrainSpectral, class_indices, data_details, spectral_card, split_without_validation};
use crate::labelled::Labelled;
use crate::model_split;
use crate::progress::{TrainingFiles, TrainingLog};
use crate::run_record::RunRecord;

/// Trains the exemplar GAN on the split's training share (every given pixel by default;
/// nothing is chosen on a validation share, so none is taken) and exports it.
pub(super) fn train(
    settings: &TrainSpectral,
    dagan: &DaganSettings,
    data: &Labelled,
    class_ids: &[u32],
    files: &TrainingFiles,
) -> Result<TrainOutcome> {
    let (split_config, split) = split_without_validation(settings, data, class_ids)?;
    let classes = class_indices(data, &split.train, class_ids);
    let real = data.spectra.select(Axis(0), &split.train);
    let scale = LogScale::fit(real.view(), &classes, class_ids.len())?;
    let spectra = scale.apply(real.view());
    let model = DaganConfig { bands: spectra.ncols(), classes: class_ids.len(), architecture: dagan.architecture.clone() };
    let config = DaganTrainConfig { adversarial: settings.train.clone(), class_balance: dagan.class_balance };

    let parameters = json!({"split": model_split::record(&split_config), "generator": "dagan", "architecture": model, "training": config});
    let record = RunRecord::start("train spectral", &data.inputs, parameters)?;
    let fingerprint = data.fingerprint();
    tracing::info!(
        "exemplar GAN on {} spectra of {} classes ({} bands; test {}), pairs of each spectrum and one of its {} class-mates",
        split.train.len(),
        class_ids.len(),
        model.bands,
        split.test.len(),
        if model.architecture.mates == 0 { "every".to_string() } else { format!("{} nearest", model.architecture.mates) }
    );
    let mut log = TrainingLog::new(files, config.adversarial.steps, "step,d_loss,g_loss,d_real,d_fake,validation_mmd");
    let mates = class_mates(spectra.view(), &classes, model.architecture.mates);
    let axes = within_class_axes(spectra.view(), &classes, class_ids.len(), model.architecture.components)?;
    let pairs = PairData { axes, spectra, classes, mates };
    let trained = dagan_training::train(&model, &config, &pairs, Some(&files.checkpoint), &fingerprint, &mut log)?;
    let metrics = log.finish()?;

    let exemplars =
        ExemplarTable::of(pairs.spectra.view(), &pairs.classes, model.classes, model.architecture.exemplars, split_config.seed)?;
    let bands = data.wavelengths_nm.len();
    let card = spectral_card(
        data,
        // The graph maps its standardised logarithms back to physical units itself.
        Normalisation { offset: vec![0.0; bands], scale: vec![1.0; bands], basis: None },
        json!({
            "data_fingerprint": fingerprint,
            "generator": "dagan",
            "loss": config.adversarial.loss,
            "steps": config.adversarial.steps,
            "seed": config.adversarial.seed,
            "split": model_split::record(&split_config),
            "architecture": model,
            "class_balance": config.class_balance,
            "software": format!("hypersynth {}", env!("CARGO_PKG_VERSION")),
        }),
    );
    let proto = hypersynth_models::export::dagan_generator(
        &trained.generator,
        &model,
        &scale,
        &exemplars,
        &card.to_props(),
        env!("CARGO_PKG_VERSION"),
    )?;
    let written = hypersynth_data::write_atomically(&settings.out, &encode_model(&proto))?;
    record.finish(
        &files.run_json,
        &[written.clone(), metrics.clone()],
        data_details(data, &split, json!({"resumed_from_step": trained.resumed_from})),
    )?;
    files.remove_checkpoint();
    tracing::info!("wrote {}", written.display());
    Ok(TrainOutcome { model: written, side_files: vec![metrics], run_json: files.run_json.clone(), best: None })
}
