//! ALiBi (Press et al., "Train Short, Test Long"): a linear bias per query head, slope_h·(gj − diag), added to the
//! logits on the fly — no N×N array. `diag` is the query's diagonal key under the descriptor's alignment (top-left:
//! gi; bottom-right: gi + kLen − qLen), so with a causal mask every bias is ≤ 0, and work splits (q_start / k_start)
//! see the same values as the whole problem.

use crate::math::LOG2_E;
use crate::problem::{Problem, Structure};

/// The query and key lengths of batch `b` and its bottom-right shift (diag = gi + shift).
fn lengths(s: &Structure, b: usize) -> (i64, i64, i64) {
    let q_len = s.q_lens.as_ref().map_or(s.nq_full, |l| l[b] as u64) as i64;
    let k_len = s.k_lens.as_ref().map_or(s.nk_full, |l| l[b] as u64) as i64;
    (q_len, k_len, if s.bottom_right { k_len - q_len } else { 0 })
}

/// gj − diag of local query row 0 and local key 0 of batch `b`; row i, key j: `key_offset − i + j`.
pub fn key_offset(s: &Structure, b: usize) -> i64 {
    let (_, _, shift) = lengths(s, b);
    s.k_start as i64 - s.q_start as i64 - shift
}

/// R ≥ 0, the largest gj − diag a key of local row `i` of batch `b` may have by the lengths and the right window (0
/// when nothing right of the diagonal is visible, as with a causal mask). The kernel adds slope·(gj − diag − R): the
/// same softmax, but the row's largest logits stay near 0 where f32 holds them finely, instead of reaching
/// slope·kLen without a causal mask (a rounding error of ~1e-4 at slope 0.5 and 4k keys). The LSE gets slope·R
/// back. It depends on the global positions only, so every key split of a row uses the same R.
pub fn row_shift(s: &Structure, b: usize, i: usize) -> i64 {
    let (_, k_len, shift) = lengths(s, b);
    let diag = s.q_start as i64 + i as i64 + shift;
    let right = k_len - 1 - diag;
    s.win_right.map_or(right, |w| right.min(w as i64)).max(0)
}

/// What the LSE of row `i`, head `h` gets back of the ALiBi row shift (natural-log units), 0 without ALiBi or when
/// the caller asked for the shifted LSE (key-range partials, merged before the shift is added).
pub fn lse_add_back(p: &Problem, b: usize, h: usize, i: usize) -> f64 {
    match p.alibi {
        Some(slopes) if !p.lse_alibi_shifted => slopes[h] as f64 * row_shift(&p.structure, b, i) as f64,
        _ => 0.0,
    }
}

/// Adds the log2-domain bias slope·log2(e)·(d0 + t) to s[t]; d0 = gj − diag of s[0].
#[inline]
pub fn add_log2(s: &mut [f32], slope: f32, d0: i64) {
    let c = slope * LOG2_E;
    for (t, x) in s.iter_mut().enumerate() {
        *x += c * (d0 + t as i64) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exact::forward;
    use crate::problem::{Dims, Outputs, Problem, Strides, View};
    use crate::tests::compact_problem;
    use crate::tests::naive::naive;

    fn rand(seed: &mut u64, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| {
                *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    /// ALiBi in the kernel equals the same kernel with the explicit bias slope_h·(gj − diag), under both
    /// alignments, causal or not, with GQA, padding lengths and a work split (q_start / k_start).
    #[test]
    fn equals_an_explicit_bias() {
        let mut seed = 5;
        for &(bottom_right, causal, split) in
            &[(false, false, false), (false, true, false), (true, true, false), (true, false, true)]
        {
            let d = Dims { b: 2, hq: 4, hkv: 2, nq: 37, nk: 150, dk: 16, dv: 8 };
            let (q, k, v) =
                (rand(&mut seed, 2 * 4 * 37 * 16), rand(&mut seed, 2 * 2 * 150 * 16), rand(&mut seed, 2 * 2 * 150 * 8));
            let slopes = [0.5f32, 0.25, 0.125, 0.0625];
            let structure = Structure {
                bottom_right,
                win_right: if causal { Some(0) } else { None },
                k_lens: Some(vec![150, 120]),
                q_start: if split { 3 } else { 0 },
                k_start: if split { 10 } else { 0 },
                nq_full: if split { 40 } else { 37 },
                nk_full: if split { 160 } else { 150 },
                ..Structure::default()
            };
            let mut bias = vec![0f32; 2 * 4 * 37 * 150];
            for b in 0..2 {
                let off = key_offset(&structure, b);
                for h in 0..4 {
                    for i in 0..37 {
                        for j in 0..150 {
                            bias[((b * 4 + h) * 37 + i) * 150 + j] = slopes[h] * (off - i as i64 + j as i64) as f32;
                        }
                    }
                }
            }
            let run = |alibi: Option<&[f32]>, bias: Option<&[f32]>| {
                let p = Problem {
                    bias: bias.map(|data| View { data, strides: Strides::compact(4, 37, 150) }),
                    alibi,
                    ..compact_problem(d, (&q, &k, &v), 0.25, structure.clone())
                };
                let mut o = vec![0f32; 2 * 4 * 37 * 8];
                let mut lse = vec![0f32; 2 * 4 * 37];
                forward(
                    &p,
                    &mut Outputs {
                        o: &mut o,
                        o_strides: Strides::compact(4, 37, 8),
                        lse: Some(&mut lse),
                        weights: None,
                    },
                )
                .unwrap();
                (o, lse)
            };
            let (o1, l1) = run(Some(&slopes), None);
            let (o2, l2) = run(None, Some(&bias));
            for (a, b) in o1.iter().zip(&o2).chain(l1.iter().zip(&l2)) {
                assert!(
                    a == b || (a - b).abs() <= 2e-5 * b.abs().max(1.0),
                    "{} vs {} ({} {} {})",
                    a,
                    b,
                    bottom_right,
                    causal,
                    split
                );
            }
        }
    }

    /// Without a causal mask the ALiBi terms of a row reach slope·kLen (~1000 here); the kernel shifts them by the
    /// row's largest one, so its outputs stay at the f32 level against the float64 oracle (6.3e-5 before the shift
    /// at these sizes), under both alignments, a right window, key lengths and a work split; the LSE gets the shift
    /// back, or not with `lse_alibi_shifted` (key-range partials).
    #[test]
    fn non_causal_stays_exact_over_long_key_ranges() {
        let mut seed = 11;
        let d = Dims { b: 2, hq: 4, hkv: 2, nq: 24, nk: 2048, dk: 16, dv: 8 };
        let (q, k, v) =
            (rand(&mut seed, 2 * 4 * 24 * 16), rand(&mut seed, 2 * 2 * 2048 * 16), rand(&mut seed, 2 * 2 * 2048 * 8));
        let slopes = [0.5f32, 0.25, 0.125, 1.0];
        for (bottom_right, win_right, split) in [(false, None, false), (false, Some(700), true), (true, None, true)] {
            let structure = Structure {
                bottom_right,
                win_right,
                k_lens: Some(vec![2048, 1500]),
                q_start: if split { 5 } else { 0 },
                k_start: 0,
                nq_full: if split { 40 } else { 24 },
                nk_full: 2048,
                ..Structure::default()
            };
            let run = |shifted: bool| {
                let p = Problem {
                    alibi: Some(&slopes),
                    lse_alibi_shifted: shifted,
                    ..compact_problem(d, (&q, &k, &v), 0.25, structure.clone())
                };
                let mut o = vec![0f32; 2 * 4 * 24 * 8];
                let mut lse = vec![0f32; 2 * 4 * 24];
                let mut out =
                    Outputs { o: &mut o, o_strides: Strides::compact(4, 24, 8), lse: Some(&mut lse), weights: None };
                forward(&p, &mut out).unwrap();
                (o, lse, naive(&p))
            };
            let (o, lse, want) = run(false);
            let err = o.iter().zip(&want.o).map(|(&a, &b)| (a as f64 - b).abs()).fold(0.0, f64::max);
            assert!(err <= 2e-6, "output error {} ({} {:?} {})", err, bottom_right, win_right, split);
            for (&a, &b) in lse.iter().zip(&want.lse) {
                assert!((a as f64 - b).abs() <= 1e-6 * b.abs().max(1.0), "lse {} vs {}", a, b);
            }
            let (o2, lse2, _) = run(true);
            assert_eq!(o, o2);
            for b in 0..2 {
                for (h, &slope) in slopes.iter().enumerate() {
                    for i in 0..24 {
                        let at = (b * 4 + h) * 24 + i;
                        let r = row_shift(&structure, b, i) as f64;
                        let back = lse2[at] as f64 + slope as f64 * r;
                        assert!((back - want.lse[at]).abs() <= 1e-6 * want.lse[at].abs().max(1.0));
                    }
                }
            }
        }
    }

    #[test]
    fn row_shift_is_the_largest_visible_distance() {
        let s = Structure { nq_full: 10, nk_full: 100, ..Structure::default() };
        assert_eq!(row_shift(&s, 0, 0), 99);
        assert_eq!(row_shift(&s, 0, 9), 90);
        let causal = Structure { win_right: Some(0), ..s.clone() };
        assert_eq!(row_shift(&causal, 0, 3), 0);
        let window = Structure { win_right: Some(5), ..s.clone() };
        assert_eq!(row_shift(&window, 0, 3), 5);
        let br = Structure { bottom_right: true, k_lens: Some(vec![50]), ..s };
        assert_eq!(row_shift(&br, 0, 9), 0);
        assert_eq!(row_shift(&br, 0, 0), 9);
    }
}
