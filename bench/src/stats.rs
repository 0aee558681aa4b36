//! Rounds and what is said about them: median, min and max of a row, and
//! the rounds that look disturbed (a bare receiver far from its median
//! means the machine, not a target, moved that round).

/// Median, min and max of a row's rounds.
#[derive(Debug, Clone, Copy)]
pub struct Stats {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

pub fn stats(v: &[f64]) -> Stats {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return Stats {
            median: 0.0,
            min: 0.0,
            max: 0.0,
        };
    }
    Stats {
        median: v[v.len() / 2],
        min: v[0],
        max: v[v.len() - 1],
    }
}

/// The rounds (by index) whose value is more than 30% from the median.
pub fn deviating(v: &[f64]) -> Vec<usize> {
    let m = stats(v).median;
    v.iter()
        .enumerate()
        .filter(|(_, x)| m > 0.0 && ((**x - m) / m).abs() > 0.30)
        .map(|(i, _)| i)
        .collect()
}

/// `p` (0..=100) percentile of sorted samples.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// "median (min-max)" with a unit-less format.
pub fn fmt_range(s: &Stats, digits: usize) -> String {
    format!("{:.d$} ({:.d$}-{:.d$})", s.median, s.min, s.max, d = digits)
}
