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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_min_max_of_an_odd_row() {
        let s = stats(&[3.0, 1.0, 2.0, 10.0, 4.0]);
        assert_eq!((s.median, s.min, s.max), (3.0, 1.0, 10.0));
    }

    #[test]
    fn a_round_far_from_the_median_is_flagged() {
        assert_eq!(deviating(&[100.0, 98.0, 60.0, 101.0, 140.0]), vec![2, 4]);
        assert!(deviating(&[100.0, 90.0, 110.0]).is_empty());
    }

    #[test]
    fn percentiles_of_sorted_samples() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 51.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&[], 99.0), 0.0);
    }
}
