//! Position biases added to the logits on the fly, with no N×N array: ALiBi (`crate::alibi`) and a relative-position
//! table (T5-style learned buckets, or any bias that depends on gj − diag only): per query head h, a table of `len`
//! values where distance gj − diag reads entry clamp(gj − diag + zero, 0, len − 1). Distances beyond the table
//! saturate, which is exact for T5 buckets (constant past max_distance).

use crate::alibi;
use crate::math::LOG2_E;
use crate::problem::Problem;

/// A relative-position bias table: `table[h·len + t]`, distance 0 at t = `zero`.
#[derive(Clone, Copy, Debug)]
pub struct RelBias<'a> {
    pub table: &'a [f32],
    pub len: usize,
    pub zero: usize,
}

/// Adds every position bias of `p` (log2 domain) to the logits `s` of local query row `i`, head `h`, batch `b`,
/// keys j0.. (s[t] is key j0 + t).
#[inline]
pub fn add_log2(p: &Problem, s: &mut [f32], b: usize, h: usize, i: usize, j0: usize) {
    if p.alibi.is_none() && p.rel_bias.is_none() {
        return;
    }
    let d0 = alibi::key_offset(&p.structure, b) - i as i64 + j0 as i64;
    if let Some(slopes) = p.alibi {
        alibi::add_log2(s, slopes[h], d0 - alibi::row_shift(&p.structure, b, i));
    }
    if let Some(r) = p.rel_bias {
        let row = &r.table[h * r.len..(h + 1) * r.len];
        let last = r.len as i64 - 1;
        let t0 = d0 + r.zero as i64;
        for (t, x) in (t0..).zip(s.iter_mut()) {
            *x += row[t.clamp(0, last) as usize] * LOG2_E;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exact::forward;
    use crate::problem::{Dims, Outputs, Strides, Structure, View};
    use crate::tests::compact_problem;

    /// A relative table (with ALiBi on top) equals the same kernel with the explicit bias, bottom-right aligned,
    /// with a work split and distances beyond both ends of the table.
    #[test]
    fn relative_table_equals_an_explicit_bias() {
        let mut seed = 9u64;
        let mut rand = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|_| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    ((seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
                })
                .collect()
        };
        let d = Dims { b: 2, hq: 4, hkv: 1, nq: 21, nk: 90, dk: 8, dv: 8 };
        let (q, k, v) = (rand(2 * 4 * 21 * 8), rand(2 * 90 * 8), rand(2 * 90 * 8));
        let (len, zero) = (25usize, 12usize);
        let table = rand(4 * len);
        let slopes = [0.1f32, 0.2, 0.3, 0.4];
        let structure = Structure {
            bottom_right: true,
            q_lens: Some(vec![24, 20]),
            q_start: 2,
            k_start: 5,
            nq_full: 24,
            nk_full: 100,
            ..Structure::default()
        };
        let mut bias = vec![0f32; 2 * 4 * 21 * 90];
        for b in 0..2 {
            let off = alibi::key_offset(&structure, b);
            for h in 0..4 {
                for i in 0..21 {
                    for j in 0..90 {
                        let dist = off - i as i64 + j as i64;
                        let t = (dist + zero as i64).clamp(0, len as i64 - 1) as usize;
                        bias[((b * 4 + h) * 21 + i) * 90 + j] = table[h * len + t] + slopes[h] * dist as f32;
                    }
                }
            }
        }
        let run = |rel: bool, bias: Option<&[f32]>| {
            let p = Problem {
                bias: bias.map(|data| View { data, strides: Strides::compact(4, 21, 90) }),
                alibi: if rel { Some(&slopes[..]) } else { None },
                rel_bias: if rel { Some(RelBias { table: &table, len, zero }) } else { None },
                ..compact_problem(d, (&q, &k, &v), 0.3, structure.clone())
            };
            let mut o = vec![0f32; 2 * 4 * 21 * 8];
            forward(&p, &mut Outputs { o: &mut o, o_strides: Strides::compact(4, 21, 8), lse: None, weights: None })
                .unwrap();
            o
        };
        let (a, b) = (run(true, None), run(false, Some(&bias)));
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() <= 2e-5, "{} vs {}", x, y);
        }
    }
}
