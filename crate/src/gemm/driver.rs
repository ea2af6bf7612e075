//! The GEMM loop nest (BLIS order): column blocks (NC) → depth blocks (KC, B packed once per block) → row blocks
//! (MC, A packed) → NR-wide column panels → MR-high row panels → microkernel. Edge tiles go through a small scratch
//! tile so the kernel itself never sees a partial tile.

use super::blocks::{round_up, GEMV_MAX_M, KC, MC, MR, NC, NR};
use super::gemv::gemv;
use super::kernel::{tile, Init};
use super::pack::{pack_a, pack_b};
use super::Gemm;
use crate::problem::OutOfMemory;

fn zeros(n: usize) -> Result<Vec<f32>, OutOfMemory> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| OutOfMemory)?;
    v.resize(n, 0.0);
    Ok(v)
}

/// C[i·ldc + j] = Σ_p A(i, p)·B(p, j) (+ bias[j]) for i < m, j < n. `c` must hold (m − 1)·ldc + n elements, and
/// `g`'s slices every element its dimensions reach (the ABI checks both). Fails only if scratch cannot be allocated.
pub fn gemm(g: &Gemm, c: &mut [f32], ldc: usize) -> Result<(), OutOfMemory> {
    let (m, n, k) = (g.m, g.n, g.k);
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        for i in 0..m {
            let row = &mut c[i * ldc..i * ldc + n];
            match g.bias {
                Some(bias) => row.copy_from_slice(&bias[..n]),
                None => row.fill(0.0),
            }
        }
        return Ok(());
    }
    if m <= GEMV_MAX_M {
        gemv(g, c, ldc);
        return Ok(());
    }
    let kcb = KC.min(k);
    let mut bpack = zeros(kcb * round_up(NC.min(n), NR))?;
    let mut apack = zeros(round_up(MC.min(m), MR) * kcb)?;
    let mut bias_tile = [0f32; NR];
    let mut edge = [0f32; MR * NR];
    for j0 in (0..n).step_by(NC) {
        let nc = NC.min(n - j0);
        for p0 in (0..k).step_by(KC) {
            let kc = KC.min(k - p0);
            pack_b(g, p0, kc, j0, nc, &mut bpack);
            for i0 in (0..m).step_by(MC) {
                let mc = MC.min(m - i0);
                pack_a(g, i0, mc, p0, kc, &mut apack);
                for jr in (0..nc).step_by(NR) {
                    let w = NR.min(nc - jr);
                    let bpanel = &bpack[jr / NR * kc * NR..][..kc * NR];
                    if let (Some(bias), 0) = (g.bias, p0) {
                        bias_tile[..w].copy_from_slice(&bias[j0 + jr..j0 + jr + w]);
                        bias_tile[w..].fill(0.0);
                    }
                    let init = match (p0, g.bias) {
                        (0, Some(_)) => Init::Bias(&bias_tile),
                        (0, None) => Init::Zero,
                        _ => Init::Load,
                    };
                    for ir in (0..mc).step_by(MR) {
                        let h = MR.min(mc - ir);
                        let apanel = &apack[ir / MR * kc * MR..][..kc * MR];
                        let at = (i0 + ir) * ldc + j0 + jr;
                        if h == MR && w == NR {
                            tile(kc, apanel, bpanel, &mut c[at..], ldc, init);
                        } else {
                            if p0 > 0 {
                                for r in 0..h {
                                    edge[r * NR..r * NR + w].copy_from_slice(&c[at + r * ldc..at + r * ldc + w]);
                                }
                            }
                            tile(kc, apanel, bpanel, &mut edge, NR, init);
                            for r in 0..h {
                                c[at + r * ldc..at + r * ldc + w].copy_from_slice(&edge[r * NR..r * NR + w]);
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(())
}
