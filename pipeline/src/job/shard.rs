//! Splitting a job's scenes over the workers of a scheduler: `--shard I/N`, or the
//! scheduler's own variables (a Slurm job array, a Kubernetes indexed Job).

use std::str::FromStr;

use anyhow::{Result, anyhow, bail};

/// Worker `index` of `count` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This worker, `0..count`.
    pub index: usize,
    /// Workers in all.
    pub count: usize,
}

impl FromStr for Shard {
    type Err = anyhow::Error;

    /// `I/N`, with `I` in `0..N`.
    fn from_str(text: &str) -> Result<Self> {
        let (i, n) = text.split_once('/').ok_or_else(|| anyhow!("--shard {text:?}: expected I/N, e.g. 0/4"))?;
        let parse = |v: &str| v.trim().parse::<usize>().map_err(|_| anyhow!("--shard {text:?}: {v:?} is not a whole number"));
        Shard::new(parse(i)?, parse(n)?).map_err(|e| anyhow!("--shard {text:?}: {e}"))
    }
}

impl Shard {
    /// Checks `index < count`.
    pub fn new(index: usize, count: usize) -> Result<Self> {
        if count == 0 || index >= count {
            bail!("shard {index} of {count} does not exist (shards are numbered 0 to count - 1)");
        }
        Ok(Self { index, count })
    }

    /// The shard the environment assigns: Slurm's `SLURM_ARRAY_TASK_ID` (less
    /// `SLURM_ARRAY_TASK_MIN`) of `SLURM_ARRAY_TASK_COUNT`, or Kubernetes'
    /// `JOB_COMPLETION_INDEX` of `HYPERSYNTH_SHARDS`; `None` outside both.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>> {
        let number = |name: &str| -> Result<Option<usize>> {
            var(name).map(|v| v.trim().parse::<usize>().map_err(|_| anyhow!("{name}={v:?} is not a whole number"))).transpose()
        };
        if let (Some(id), Some(count)) = (number("SLURM_ARRAY_TASK_ID")?, number("SLURM_ARRAY_TASK_COUNT")?) {
            let first = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let index = id.checked_sub(first).ok_or_else(|| anyhow!("SLURM_ARRAY_TASK_ID {id} is below SLURM_ARRAY_TASK_MIN {first}"))?;
            return Shard::new(index, count).map(Some);
        }
        match (number("JOB_COMPLETION_INDEX")?, number("HYPERSYNTH_SHARDS")?) {
            (Some(index), Some(count)) => Shard::new(index, count).map(Some),
            (Some(_), None) => bail!("JOB_COMPLETION_INDEX is set but HYPERSYNTH_SHARDS (the number of completions) is not"),
            _ => Ok(None),
        }
    }

    /// Whether scene number `position` (in the job file's order) is this shard's: scenes
    /// are dealt round-robin, so every shard's subset is stable for a given job file.
    pub fn takes(&self, position: usize) -> bool {
        position % self.count == self.index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_deals_round_robin() {
        let s: Shard = "1/3".parse().unwrap();
        assert_eq!((0..7).filter(|&p| s.takes(p)).collect::<Vec<_>>(), [1, 4]);
        assert!("3/3".parse::<Shard>().is_err() && "1-3".parse::<Shard>().is_err() && "a/3".parse::<Shard>().is_err());
    }

    #[test]
    fn reads_slurm_and_kubernetes_variables() {
        fn env<'a>(pairs: &'a [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> + 'a {
            move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
        }
        let slurm = [("SLURM_ARRAY_TASK_ID", "5"), ("SLURM_ARRAY_TASK_MIN", "4"), ("SLURM_ARRAY_TASK_COUNT", "3")];
        assert_eq!(Shard::from_env(env(&slurm)).unwrap(), Some(Shard { index: 1, count: 3 }));
        let k8s = [("JOB_COMPLETION_INDEX", "2"), ("HYPERSYNTH_SHARDS", "4")];
        assert_eq!(Shard::from_env(env(&k8s)).unwrap(), Some(Shard { index: 2, count: 4 }));
        assert!(Shard::from_env(env(&[("JOB_COMPLETION_INDEX", "2")])).is_err());
        assert_eq!(Shard::from_env(env(&[])).unwrap(), None);
    }
}
