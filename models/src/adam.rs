//! Adam, with its moment estimates kept as plain tensors so that checkpoints hold the
//! whole optimiser state and a resumed run continues exactly.

use std::collections::HashMap;

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};

use crate::Result;

/// Adam (no weight decay) over a fixed list of variables.
#[derive(Debug)]
pub struct Adam {
    vars: Vec<Var>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    steps: u64,
    lr: f64,
    beta1: f64,
    beta2: f64,
}

const EPS: f64 = 1e-8;

impl Adam {
    /// An optimiser for `vars` with learning rate `lr` and decay rates `beta1`, `beta2`.
    pub fn new(vars: Vec<Var>, lr: f64, beta1: f64, beta2: f64) -> Result<Self> {
        let m = vars.iter().map(|v| v.zeros_like()).collect::<candle_core::Result<Vec<_>>>()?;
        let v = m.clone();
        Ok(Self { vars, m, v, steps: 0, lr, beta1, beta2 })
    }

    /// Sets the learning rate of the next steps (for a schedule).
    pub fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    /// One update from `grads`; variables without a gradient are left alone.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.steps += 1;
        let t = self.steps as i32;
        let (c1, c2) = (1.0 - self.beta1.powi(t), 1.0 - self.beta2.powi(t));
        for i in 0..self.vars.len() {
            let Some(g) = grads.get(self.vars[i].as_tensor()) else { continue };
            let g = g.detach();
            self.m[i] = (self.m[i].affine(self.beta1, 0.0)? + g.affine(1.0 - self.beta1, 0.0)?)?;
            self.v[i] = (self.v[i].affine(self.beta2, 0.0)? + g.sqr()?.affine(1.0 - self.beta2, 0.0)?)?;
            let update = self.m[i].affine(1.0 / c1, 0.0)?.div(&self.v[i].affine(1.0 / c2, 0.0)?.sqrt()?.affine(1.0, EPS)?)?;
            self.vars[i].set(&self.vars[i].sub(&update.affine(self.lr, 0.0)?)?)?;
        }
        Ok(())
    }

    /// The state as named tensors, prefixed with `prefix`.
    pub fn state(&self, prefix: &str) -> Result<HashMap<String, Tensor>> {
        let mut state = HashMap::new();
        for (i, (m, v)) in self.m.iter().zip(&self.v).enumerate() {
            state.insert(format!("{prefix}.m.{i}"), m.clone());
            state.insert(format!("{prefix}.v.{i}"), v.clone());
        }
        state.insert(format!("{prefix}.steps"), Tensor::new(&[self.steps as f32], &candle_core::Device::Cpu)?);
        Ok(state)
    }

    /// Restores the state written by [`Adam::state`].
    pub fn restore(&mut self, prefix: &str, state: &HashMap<String, Tensor>) -> Result<()> {
        let get = |key: String| state.get(&key).cloned().ok_or_else(|| crate::Error::Invalid(format!("checkpoint lacks {key}")));
        for i in 0..self.m.len() {
            self.m[i] = get(format!("{prefix}.m.{i}"))?;
            self.v[i] = get(format!("{prefix}.v.{i}"))?;
        }
        self.steps = get(format!("{prefix}.steps"))?.to_vec1::<f32>()?[0] as u64;
        Ok(())
    }
}
