//! ALiBi (Press et al., "Train Short, Test Long"): a linear bias per query head, slope_h·(gj − diag), added to the
//! logits on the fly — no N×N array. `diag` is the query's diagonal key under the descriptor's alignment (top-left:
//! gi; bottom-right: gi + kLen − qLen), so with a causal mask every bias is ≤ 0, and work splits (q_start / k_start)
//! see the same values as the whole problem.

use crate::math::LOG2_E;
use crate::problem::Structure;

/// gj − diag of local query row 0 and local key 0 of batch `b`; row i, key j: `key_offset − i + j`.
pub fn key_offset(s: &Structure, b: usize) -> i64 {
    let q_len = s.q_lens.as_ref().map_or(s.nq_full, |l| l[b] as u64) as i64;
    let k_len = s.k_lens.as_ref().map_or(s.nk_full, |l| l[b] as u64) as i64;
    let shift = if s.bottom_right { k_len - q_len } else { 0 };
    s.k_start as i64 - s.q_start as i64 - shift
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
                    dims: d,
                    q: View { data: &q, strides: Strides::compact(4, 37, 16) },
                    k: View { data: &k, strides: Strides::compact(2, 150, 16) },
                    v: View { data: &v, strides: Strides::compact(2, 150, 8) },
                    mask: None,
                    bias: bias.map(|data| View { data, strides: Strides::compact(4, 37, 150) }),
                    scale: 0.25,
                    softcap: 0.0,
                    cosine: false,
                    structure: structure.clone(),
                    alibi,
                    rel_bias: None,
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
}
