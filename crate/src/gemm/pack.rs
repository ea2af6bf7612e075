//! Packing: copies of an A block into MR-high micro-panels and of a B block into NR-wide micro-panels, in the order
//! the microkernel reads them, zero-padded to whole panels (so the kernel never needs an edge case).

use super::blocks::{MR, NR};
use super::Gemm;

/// Rows [i0, i0 + mc) × depth [p0, p0 + kc) of A into `out`: panel q holds rows i0 + q·MR.., as out[(q·kc + p)·MR + r].
pub fn pack_a(g: &Gemm, i0: usize, mc: usize, p0: usize, kc: usize, out: &mut [f32]) {
    for (q, panel) in out.chunks_exact_mut(kc * MR).take((mc + MR - 1) / MR).enumerate() {
        for r in 0..MR {
            let i = q * MR + r;
            if i < mc {
                let row = &g.a[(i0 + i) * g.lda + p0..(i0 + i) * g.lda + p0 + kc];
                for (p, &x) in row.iter().enumerate() {
                    panel[p * MR + r] = x;
                }
            } else {
                for p in 0..kc {
                    panel[p * MR + r] = 0.0;
                }
            }
        }
    }
}

/// Depth [p0, p0 + kc) × columns [j0, j0 + nc) of B into `out`: panel q holds columns j0 + q·NR.., as
/// out[(q·kc + p)·NR + x].
pub fn pack_b(g: &Gemm, p0: usize, kc: usize, j0: usize, nc: usize, out: &mut [f32]) {
    for (q, panel) in out.chunks_exact_mut(kc * NR).take((nc + NR - 1) / NR).enumerate() {
        let jq = j0 + q * NR;
        let w = NR.min(j0 + nc - jq);
        if g.trans_b {
            // B is [n, k]: each column of the panel is a contiguous row of b.
            for x in 0..NR {
                if x < w {
                    let col = &g.b[(jq + x) * g.ldb + p0..(jq + x) * g.ldb + p0 + kc];
                    for (p, &v) in col.iter().enumerate() {
                        panel[p * NR + x] = v;
                    }
                } else {
                    for p in 0..kc {
                        panel[p * NR + x] = 0.0;
                    }
                }
            }
        } else {
            for p in 0..kc {
                let src = &g.b[(p0 + p) * g.ldb + jq..(p0 + p) * g.ldb + jq + w];
                let dst = &mut panel[p * NR..(p + 1) * NR];
                dst[..w].copy_from_slice(src);
                dst[w..].fill(0.0);
            }
        }
    }
}
