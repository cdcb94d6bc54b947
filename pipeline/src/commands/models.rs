//! `hypersynth models inspect`: a model's card and input/output contract.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use hypersynth_onnx::{CardSource, OnnxSession, SessionOptions, TensorInfo, check_contract};

use crate::runtime::open_session;

/// Prints the card, inputs, outputs and contract verdict of the model at `path`; fails
/// (after printing) when the contract is not met.
pub fn inspect(path: &Path, options: &SessionOptions, json: bool) -> Result<()> {
    let (session, runtime) = open_session(path, options)?;
    let contract = check_contract(&session).map_err(|e| e.to_string());
    if json {
        let value = serde_json::json!({
            "model": session.path,
            "card": session.card,
            "card_source": session.card_source,
            "inputs": session.inputs,
            "defaulted_inputs": session.defaulted_inputs,
            "outputs": session.outputs,
            "contract": match &contract { Ok(()) => "ok".to_string(), Err(e) => e.clone() },
            "device": session.device.to_string(),
            "onnxruntime": runtime.library,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print!("{}", describe(&session, &contract));
    }
    // The description is printed in full either way; an unmet contract still fails, so
    // that scripts checking a model see it.
    contract.map_err(|problem| anyhow::anyhow!("{}: the model does not meet its contract: {problem}", path.display()))
}

fn describe(session: &OnnxSession, contract: &Result<(), String>) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "model:        {}", session.path.display());
    match (&session.card, &session.card_source) {
        (Some(card), source) => {
            let from = match source {
                Some(CardSource::Sidecar(p)) => format!(" (from sidecar {})", p.display()),
                _ => String::new(),
            };
            let _ = writeln!(s, "kind:         {}{from}", card.kind.as_str());
            let _ = writeln!(s, "card version: {}", card.format_version);
            let w = &card.wavelengths_nm;
            match (w.first(), w.last()) {
                (Some(a), Some(b)) => {
                    let _ = writeln!(s, "bands:        {} ({a:.2} .. {b:.2} nm)", w.len());
                }
                _ => {
                    let _ = writeln!(s, "bands:        0");
                }
            }
            let classes: Vec<String> = card.classes.iter().map(|c| format!("{} {}", c.id, c.name)).collect();
            let _ = writeln!(s, "classes:      {}", if classes.is_empty() { "-".into() } else { classes.join(", ") });
            let _ = writeln!(s, "training:     {}", card.training);
        }
        (None, _) => {
            let _ = writeln!(s, "card:         none (no hypersynth.* metadata and no sidecar .onnx.json)");
        }
    }
    let io = |t: &TensorInfo| format!("{} {} {:?}", t.name, t.dtype, t.shape);
    for t in &session.inputs {
        let _ = writeln!(s, "input:        {}", io(t));
    }
    for t in &session.defaulted_inputs {
        let _ = writeln!(s, "input:        {} (optional, has a default)", io(t));
    }
    for t in &session.outputs {
        let _ = writeln!(s, "output:       {}", io(t));
    }
    let _ = writeln!(
        s,
        "contract:     {}",
        match contract {
            Ok(()) => "ok".to_string(),
            Err(e) => format!("not met: {e}"),
        }
    );
    s
}
