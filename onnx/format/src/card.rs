//! The hypersynth model card: what a model is, which bands and classes it knows, and how
//! its inputs and outputs are normalised.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Error, Result};

/// The card format this version writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// The `metadata_props` keys of a card, in the order they are written.
pub const CARD_KEYS: [&str; 6] = [
    "hypersynth.kind",
    "hypersynth.format_version",
    "hypersynth.wavelengths_nm",
    "hypersynth.classes",
    "hypersynth.normalisation",
    "hypersynth.training",
];

/// The optional key of [`ModelCard::output`].
pub const OUTPUT_KEY: &str = "hypersynth.output";

/// Which family a model belongs to; each has its own input/output contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// Spectral conditional GAN generator: `z` `[N, latent]` and `class_index` `[N]` in,
    /// `spectra` `[N, bands]` out in physical units.
    SpectralCgan,
    /// Pix2Pix generator: `image` `[N, C_in, H, W]` in, `output` `[N, C_out, H, W]` out.
    Pix2pix,
    /// CycleGAN super-resolution generator: `image` `[N, C, H, W]` in, same shape out.
    CycleganSr,
}

impl ModelKind {
    /// The name used in the card (`spectral-cgan`, `pix2pix`, `cyclegan-sr`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SpectralCgan => "spectral-cgan",
            Self::Pix2pix => "pix2pix",
            Self::CycleganSr => "cyclegan-sr",
        }
    }
}

impl std::str::FromStr for ModelKind {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "spectral-cgan" => Ok(Self::SpectralCgan),
            "pix2pix" => Ok(Self::Pix2pix),
            "cyclegan-sr" => Ok(Self::CycleganSr),
            other => Err(format!("unknown model kind {other:?} (expected spectral-cgan, pix2pix or cyclegan-sr)")),
        }
    }
}

/// Affine normalisation, per band (or channel): `normalised = (physical - offset) / scale`;
/// or, when `basis` is given, `physical = normalised · basis + offset` (`scale` empty).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalisation {
    /// Subtracted from physical values.
    pub offset: Vec<f64>,
    /// Physical values are divided by it after the offset.
    pub scale: Vec<f64>,
    /// Rows: the physical spectrum of each unit normalised direction (e.g. principal
    /// components scaled to the Tanh range).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basis: Option<Vec<Vec<f64>>>,
}

/// How an image model's output maps to what it stands for, per output channel:
/// `value = output · scale + offset`; e.g. `offset` 0.5 and `scale` 0.5 turn a Tanh output
/// in `[-1, 1]` into a probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputMapping {
    /// Added after scaling.
    pub offset: Vec<f64>,
    /// Multiplies the raw output.
    pub scale: Vec<f64>,
}

/// A class the model knows: `class_index` `i` means `classes[i]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardClass {
    /// The class id in the user's labels.
    pub id: u32,
    /// The class name.
    pub name: String,
}

/// The model card stored under the `hypersynth.*` keys of `metadata_props`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelCard {
    /// The model family.
    pub kind: ModelKind,
    /// The card format version.
    pub format_version: u32,
    /// Band centres in nanometres of the spectra or channels the model reads or writes.
    pub wavelengths_nm: Vec<f64>,
    /// Classes, in `class_index` order (empty for image models).
    pub classes: Vec<CardClass>,
    /// How physical values map to the model's normalised values.
    pub normalisation: Normalisation,
    /// Free-form training record: data fingerprint, loss, steps, seed, software version.
    pub training: Value,
    /// For image models, how the output maps to values (`hypersynth.output`, optional:
    /// the identity when absent).
    pub output: Option<OutputMapping>,
}

/// What a damage model writes, learnt from what its target held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DamageOutput {
    /// The probability that a pixel is damaged (a 0/1 target).
    Probability,
    /// How severe the damage is, 0 to 1 (a continuous target, as dNBR-like severity).
    Severity,
}

impl DamageOutput {
    /// The name in the card's training record and of the output band.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Probability => "damage_probability",
            Self::Severity => "severity",
        }
    }
}

impl ModelCard {
    /// The card as `metadata_props` entries; JSON values are written as JSON text.
    pub fn to_props(&self) -> Vec<(String, String)> {
        let mut props = vec![
            (CARD_KEYS[0].into(), self.kind.as_str().into()),
            (CARD_KEYS[1].into(), self.format_version.to_string()),
            (CARD_KEYS[2].into(), json(&self.wavelengths_nm)),
            (CARD_KEYS[3].into(), json(&self.classes)),
            (CARD_KEYS[4].into(), json(&self.normalisation)),
            (CARD_KEYS[5].into(), json(&self.training)),
        ];
        if let Some(output) = &self.output {
            props.push((OUTPUT_KEY.into(), json(output)));
        }
        props
    }

    /// Reads a card from `metadata_props` entries (or a sidecar's keys); `None` when there
    /// is no `hypersynth.kind` key at all, i.e. the model has no card.
    pub fn from_props(props: &[(String, String)]) -> Result<Option<Self>> {
        let get = |key: &'static str| props.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
        let Some(kind) = get(CARD_KEYS[0]) else { return Ok(None) };
        let required = |key: &'static str| get(key).ok_or(Error::MissingKey { key });
        let bad = |key: &str, problem: String| Error::BadValue { key: key.to_string(), problem };
        let kind: ModelKind = kind.parse().map_err(|p| bad(CARD_KEYS[0], p))?;
        let format_version: u32 = required(CARD_KEYS[1])?.trim().parse().map_err(|e| bad(CARD_KEYS[1], format!("{e}")))?;
        if format_version > FORMAT_VERSION {
            return Err(bad(CARD_KEYS[1], format!("version {format_version} is newer than this hypersynth reads ({FORMAT_VERSION})")));
        }
        fn parse<T: serde::de::DeserializeOwned>(key: &str, text: &str) -> Result<T> {
            serde_json::from_str(text).map_err(|e| Error::BadValue { key: key.to_string(), problem: e.to_string() })
        }
        let card = Self {
            kind,
            format_version,
            wavelengths_nm: parse(CARD_KEYS[2], required(CARD_KEYS[2])?)?,
            classes: parse(CARD_KEYS[3], get(CARD_KEYS[3]).unwrap_or("[]"))?,
            normalisation: parse(CARD_KEYS[4], required(CARD_KEYS[4])?)?,
            training: parse(CARD_KEYS[5], get(CARD_KEYS[5]).unwrap_or("{}"))?,
            output: get(OUTPUT_KEY).map(|text| parse(OUTPUT_KEY, text)).transpose()?,
        };
        if let Some(output) = &card.output
            && (output.offset.len() != output.scale.len() || output.scale.iter().any(|s| !s.is_finite()))
        {
            return Err(bad(OUTPUT_KEY, "needs as many finite scales as offsets".into()));
        }
        let bands = card.normalisation.offset.len();
        match &card.normalisation.basis {
            None if card.normalisation.scale.len() != bands => {
                return Err(bad(CARD_KEYS[4], format!("{} offsets but {} scales", bands, card.normalisation.scale.len())));
            }
            Some(basis) if basis.iter().any(|row| row.len() != bands) => {
                return Err(bad(CARD_KEYS[4], format!("every basis row must have one value per offset ({bands})")));
            }
            _ => {}
        }
        if card.normalisation.scale.iter().any(|s| *s == 0.0 || !s.is_finite()) {
            return Err(bad(CARD_KEYS[4], "scales must be finite and non-zero".into()));
        }
        Ok(Some(card))
    }

    /// The side every tile of an image model must be a multiple of: `tile_multiple` in the
    /// training record (a U-Net of depth d needs 2^d), 1 when the card does not say.
    pub fn tile_multiple(&self) -> usize {
        self.training.get("tile_multiple").and_then(Value::as_u64).map_or(1, |m| m.max(1) as usize)
    }

    /// What a damage (pix2pix) model's single output is: `output` in the training record,
    /// `severity` for a continuous severity, a damage probability otherwise.
    pub fn damage_output(&self) -> DamageOutput {
        match self.training.get("output").and_then(Value::as_str) {
            Some(name) if name == DamageOutput::Severity.as_str() => DamageOutput::Severity,
            _ => DamageOutput::Probability,
        }
    }

    /// The factor a super-resolution model enlarges by: `scale` in the training record
    /// (`None` when the card does not say or says less than 1).
    pub fn scale(&self) -> Option<usize> {
        self.training.get("scale").and_then(Value::as_u64).filter(|&s| s >= 1).map(|s| s as usize)
    }

    /// Where a super-resolution model's low-res pixels are centred, in high-res pixels
    /// (rows, columns) from their blocks' centres: `psf_offset` in the training record,
    /// `[0, 0]` when the card does not say.
    pub fn psf_offset(&self) -> [f64; 2] {
        let at = |i: usize| self.training.get("psf_offset").and_then(|o| o.get(i)).and_then(Value::as_f64).unwrap_or(0.0);
        [at(0), at(1)]
    }

    /// Reads a sidecar card (`M.onnx.json`): a JSON object with the same keys, whose values
    /// may be JSON values or JSON text.
    pub fn from_sidecar_json(text: &str) -> Result<Option<Self>> {
        let object: serde_json::Map<String, Value> =
            serde_json::from_str(text).map_err(|e| Error::BadValue { key: "sidecar".into(), problem: e.to_string() })?;
        let props: Vec<(String, String)> = object
            .into_iter()
            .map(|(k, v)| {
                let text = match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, text)
            })
            .collect();
        Self::from_props(&props)
    }
}

/// JSON text of a card field. Card fields are plain data (numbers, strings, vectors, JSON
/// values), for which `serde_json` cannot fail.
fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card() -> ModelCard {
        ModelCard {
            kind: ModelKind::SpectralCgan,
            format_version: FORMAT_VERSION,
            wavelengths_nm: vec![400.0, 410.5],
            classes: vec![CardClass { id: 3, name: "tree".into() }],
            normalisation: Normalisation { offset: vec![0.1, 0.2], scale: vec![2.0, 3.0], basis: None },
            training: serde_json::json!({"steps": 10}),
            output: None,
        }
    }

    #[test]
    fn round_trips_through_props() {
        let props = card().to_props();
        assert_eq!(props.len(), CARD_KEYS.len());
        assert_eq!(ModelCard::from_props(&props).unwrap(), Some(card()));
        let with_output = ModelCard { output: Some(OutputMapping { offset: vec![0.5], scale: vec![0.5] }), ..card() };
        assert_eq!(ModelCard::from_props(&with_output.to_props()).unwrap(), Some(with_output));
    }

    #[test]
    fn no_kind_means_no_card_and_bad_values_are_named() {
        assert_eq!(ModelCard::from_props(&[]).unwrap(), None);
        let mut props = card().to_props();
        props[4].1 = "{\"offset\": [1], \"scale\": [0]}".into();
        let err = ModelCard::from_props(&props).unwrap_err().to_string();
        assert!(err.contains("hypersynth.normalisation"), "{err}");
    }

    #[test]
    fn sidecar_accepts_json_values() {
        let text = r#"{"hypersynth.kind": "pix2pix", "hypersynth.format_version": 1,
            "hypersynth.wavelengths_nm": [500, 600], "hypersynth.normalisation": {"offset": [0, 0], "scale": [1, 1]}}"#;
        let card = ModelCard::from_sidecar_json(text).unwrap().unwrap();
        assert_eq!(card.kind, ModelKind::Pix2pix);
        assert_eq!(card.wavelengths_nm, vec![500.0, 600.0]);
    }
}
