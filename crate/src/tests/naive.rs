//! The float64 oracle: RawDesc's semantics written as plain loops, one (batch, head, query row) at a time, without
//! the crate's mask, block or softmax code.

use crate::problem::Problem;

pub struct Expected {
    /// [b, hq, nq, dv] compact.
    pub o: Vec<f64>,
    /// [b, hq, nq].
    pub lse: Vec<f64>,
    /// [b, hq, nq, nk].
    pub w: Vec<f64>,
}

fn norm(x: &[f32]) -> f64 {
    x.iter().map(|&v| v as f64 * v as f64).sum::<f64>().sqrt().max(1e-12)
}

pub fn naive(p: &Problem) -> Expected {
    let d = p.dims;
    let s = &p.structure;
    let mut o = vec![0.0; d.b * d.hq * d.nq * d.dv];
    let mut lse = vec![f64::NEG_INFINITY; d.b * d.hq * d.nq];
    let mut w = vec![0.0; d.b * d.hq * d.nq * d.nk];
    for b in 0..d.b {
        let q_len = s.q_lens.as_ref().map_or(s.nq_full, |l| l[b] as u64) as i64;
        let k_len = s.k_lens.as_ref().map_or(s.nk_full, |l| l[b] as u64) as i64;
        for h in 0..d.hq {
            let kvh = h / (d.hq / d.hkv);
            for i in 0..d.nq {
                let row = (b * d.hq + h) * d.nq + i;
                let gi = s.q_start as i64 + i as i64;
                let diag = gi + if s.bottom_right { k_len - q_len } else { 0 };
                let q = p.q.row(b, h, i, 0, d.dk);
                let mut logits = vec![None; d.nk];
                for (j, logit) in logits.iter_mut().enumerate() {
                    let gj = s.k_start as i64 + j as i64;
                    let mut ok = gi < q_len && gj < k_len;
                    if let Some(wl) = s.win_left {
                        ok &= gj >= diag - wl as i64;
                    }
                    if let Some(wr) = s.win_right {
                        ok &= gj <= diag + wr as i64;
                    }
                    if let Some(m) = &p.mask {
                        ok &= m.row(b, h, i, j, 1)[0] != 0;
                    }
                    if !ok {
                        continue;
                    }
                    let k = p.k.row(b, kvh, j, 0, d.dk);
                    let mut sim: f64 = q.iter().zip(k).map(|(&a, &b)| a as f64 * b as f64).sum();
                    if p.cosine {
                        sim /= norm(q) * norm(k);
                    }
                    let mut x = sim * p.scale as f64;
                    if p.softcap > 0.0 {
                        x = p.softcap as f64 * (x / p.softcap as f64).tanh();
                    }
                    if let Some(bias) = &p.bias {
                        x += bias.row(b, h, i, j, 1)[0] as f64;
                    }
                    if let Some(slopes) = p.alibi {
                        x += slopes[h] as f64 * (gj - diag) as f64;
                    }
                    *logit = Some(x);
                }
                let max = logits.iter().flatten().fold(f64::NEG_INFINITY, |a, &x| a.max(x));
                if max == f64::NEG_INFINITY {
                    continue;
                }
                let sum: f64 = logits.iter().flatten().map(|x| (x - max).exp()).sum();
                lse[row] = max + sum.ln();
                for (j, logit) in logits.iter().enumerate() {
                    if let Some(x) = logit {
                        let wt = (x - max).exp() / sum;
                        w[row * d.nk + j] = wt;
                        let v = p.v.row(b, kvh, j, 0, d.dv);
                        for c in 0..d.dv {
                            o[row * d.dv + c] += wt * v[c] as f64;
                        }
                    }
                }
            }
        }
    }
    Expected { o, lse, w }
}
