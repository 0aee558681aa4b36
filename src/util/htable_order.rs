//! The order in which Postfix's hash table (htable.c) lists its keys,
//! given the order they were entered.  postconf warns about unused and
//! read-only parameters while walking main.cf's and master.cf's
//! dictionaries, which are such tables; with `NORANDOMIZE` set (as
//! Postfix's own regression tests run it) the hash is unseeded, so that
//! order is fixed, and postkit's postconf reproduces it.  Without
//! `NORANDOMIZE` Postfix's order is random per run, and any order is as
//! good (postkit then keeps the file's order).

/// Postfix's hash: FNV-1a over 64 bits, each byte plus one (hash_fnv.c).
fn hash_fnv(key: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= u64::from(b) + 1;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Whether Postfix's order is the fixed one (`NORANDOMIZE` in the
/// environment).
pub fn fixed() -> bool {
    std::env::var_os("NORANDOMIZE").is_some()
}

/// `keys` (distinct, in the order entered) as htable_list() returns them:
/// bucket by bucket, the latest entered first within a bucket; the table
/// starts with 13 buckets and doubles (plus one) when full, re-linking the
/// old buckets in order.
pub fn listed<'a>(keys: &[&'a str]) -> Vec<&'a str> {
    let mut size = 13usize;
    let mut buckets: Vec<Vec<&str>> = vec![Vec::new(); size];
    // Each bucket's chain is kept with its head last (a push is a link at
    // the head).
    let link = |buckets: &mut Vec<Vec<&'a str>>, size: usize, key: &'a str| {
        buckets[(hash_fnv(key) % size as u64) as usize].push(key);
    };
    for (used, &key) in keys.iter().enumerate() {
        if used >= size {
            let old = std::mem::take(&mut buckets);
            size = (2 * size) | 1;
            buckets = vec![Vec::new(); size];
            for chain in old {
                for &k in chain.iter().rev() {
                    link(&mut buckets, size, k);
                }
            }
        }
        link(&mut buckets, size, key);
    }
    buckets
        .into_iter()
        .flat_map(|chain| chain.into_iter().rev())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_bucket_lists_the_latest_first() {
        let keys = ["a", "b", "c"];
        let out = listed(&keys);
        assert_eq!(out.len(), 3);
        let mut sorted = out.clone();
        sorted.sort();
        assert_eq!(sorted, keys);
    }

    #[test]
    fn growth_keeps_every_key() {
        let owned: Vec<String> = (0..100).map(|i| format!("k{i}")).collect();
        let keys: Vec<&str> = owned.iter().map(String::as_str).collect();
        let mut out = listed(&keys);
        out.sort();
        let mut want = keys.clone();
        want.sort();
        assert_eq!(out, want);
    }
}
