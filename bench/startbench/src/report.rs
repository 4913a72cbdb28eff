//! Medians and ratios against crun, as a text table and a markdown file.

use std::fmt::Write as _;
use std::time::Duration;

use crate::measure::Sample;

pub struct RuntimeResult {
    pub name: String,
    pub version: String,
    pub samples: Vec<Sample>,
    /// Containers per second of each back-to-back sequence.
    pub rates: Vec<f64>,
    /// Why it could not be measured.
    pub error: Option<String>,
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub struct Medians {
    pub wall_ms: f64,
    pub cpu_ms: f64,
    pub rss_mib: f64,
    pub rate: f64,
}

impl RuntimeResult {
    pub fn medians(&self) -> Medians {
        Medians {
            wall_ms: median(self.samples.iter().map(|s| ms(s.wall)).collect()),
            cpu_ms: median(self.samples.iter().map(|s| ms(s.cpu)).collect()),
            rss_mib: median(
                self.samples
                    .iter()
                    .map(|s| s.max_rss_kib as f64 / 1024.0)
                    .collect(),
            ),
            rate: median(self.rates.clone()),
        }
    }
}

/// The table: one row per runtime, ratios against the runtime named `base`.
pub fn table(results: &[RuntimeResult], base: &str, seq: usize) -> String {
    let base_name = base;
    let base = results
        .iter()
        .find(|r| r.name == base_name && r.error.is_none())
        .map(RuntimeResult::medians);
    let ratio = |v: f64, b: Option<f64>| match b {
        Some(b) if b > 0.0 && v.is_finite() => format!("{:.2}x", v / b),
        _ => "-".to_string(),
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| runtime | wall per run | CPU per run | {seq} in a row | peak RSS | wall vs {base_name} | CPU vs {base_name} | rate vs {base_name} | RSS vs {base_name} |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
    for r in results {
        if let Some(e) = &r.error {
            let _ = writeln!(out, "| {} | not measured: {} | | | | | | | |", r.name, e);
            continue;
        }
        let m = r.medians();
        let _ = writeln!(
            out,
            "| {} | {:.1} ms | {:.1} ms | {:.1} /s | {:.1} MiB | {} | {} | {} | {} |",
            r.name,
            m.wall_ms,
            m.cpu_ms,
            m.rate,
            m.rss_mib,
            ratio(m.wall_ms, base.as_ref().map(|b| b.wall_ms)),
            ratio(m.cpu_ms, base.as_ref().map(|b| b.cpu_ms)),
            ratio(m.rate, base.as_ref().map(|b| b.rate)),
            ratio(m.rss_mib, base.as_ref().map(|b| b.rss_mib)),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(vec![]).is_nan());
    }
}
