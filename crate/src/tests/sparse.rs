//! The exact kernel walking a block mask (`crate::sparse`) against the float64 oracle given the same pattern as a
//! plain mask operand. The block mask is compiled here by brute force (count the allowed pairs of every block), an
//! independent route from the SDK's compile.

use super::exact::{dims, Case};
use super::naive::naive;
use super::rng::Rng;
use crate::problem::Strides;
use crate::sparse::{Csr, SparseMask, BK, BQ, KIND_FULL, KIND_PARTIAL};

fn pattern(rng: &mut Rng, nq: usize, nk: usize, shift: i64) -> SparseMask {
    let mut row_ptr = vec![0u32];
    let mut col = Vec::new();
    for _ in 0..nq {
        let mut row: Vec<u32> = (0..rng.range(0, 4)).map(|_| rng.range(0, nk - 1) as u32).collect();
        row.sort_unstable();
        row.dedup();
        col.extend(row);
        row_ptr.push(col.len() as u32);
    }
    let mut globals: Vec<u32> = (0..rng.range(0, 3)).map(|_| rng.range(0, nq.max(nk) - 1) as u32).collect();
    globals.sort_unstable();
    globals.dedup();
    SparseMask {
        window: if rng.chance(0.8) { Some(rng.range(0, 40) as u64) } else { None },
        dilation: 1 + rng.range(0, 3) as u64,
        shift,
        globals,
        csr: if rng.chance(0.5) { Some(Csr { row_ptr, col }) } else { None },
        ..SparseMask::default()
    }
}

/// Lists every block with at least one allowed pair: FULL when all are, else PARTIAL.
fn compile(sp: &mut SparseMask, nq: usize, nk: usize) {
    sp.row_ptr = vec![0];
    for r in 0..(nq + BQ - 1) / BQ {
        for c in 0..(nk + BK - 1) / BK {
            let (mut any, mut all) = (false, true);
            for gi in r * BQ..((r + 1) * BQ).min(nq) {
                for gj in c * BK..((c + 1) * BK).min(nk) {
                    let ok = sp.allowed(gi as u64, gj as u64);
                    any |= ok;
                    all &= ok;
                }
            }
            if any {
                sp.idx.push(c as u32);
                sp.kind.push(if all { KIND_FULL } else { KIND_PARTIAL });
            }
        }
        sp.row_ptr.push(sp.idx.len() as u32);
    }
}

#[test]
fn block_mask_matches_the_oracle_with_the_pattern_as_a_mask() {
    let mut rng = Rng::new(41);
    for n in 0..24 {
        let (hq, hkv) = [(1, 1), (4, 2), (3, 1)][n % 3];
        let (nq, nk) = (rng.range(1, 150), rng.range(1, 400));
        let b = rng.range(1, 2);
        let mut case = Case::new(&mut rng, dims(b, hq, hkv, nq, nk, 8, 8));
        case.structure.bottom_right = rng.chance(0.5);
        if rng.chance(0.5) {
            case.structure.win_right = Some(0);
        }
        if n % 4 == 3 {
            // A split: rows from 40 (mid query block) and keys from 128 (a whole key block) of a larger problem.
            case.structure.q_start = 40;
            case.structure.k_start = 128;
            case.structure.nq_full = nq as u64 + 50;
            case.structure.nk_full = nk as u64 + 200;
        }
        let s = &case.structure;
        let (nq_full, nk_full) = (s.nq_full as usize, s.nk_full as usize);
        let shift = if s.bottom_right { nk_full as i64 - nq_full as i64 } else { 0 };
        let mut sp = pattern(&mut rng, nq_full, nk_full, shift);
        compile(&mut sp, nq_full, nk_full);
        assert!(sp.is_valid(nq_full as u64, nk_full as u64));

        let mut masked = case.clone();
        let mask: Vec<u8> =
            (0..nq * nk).map(|t| sp.allowed(s.q_start + (t / nk) as u64, s.k_start + (t % nk) as u64) as u8).collect();
        masked.mask = Some((mask, Strides { batch: 0, head: 0, row: nk }));
        let want = naive(&masked.problem());
        case.structure.sparse = Some(sp);
        let (o, lse, w) = case.run();
        for (t, (&g, &e)) in o.iter().zip(&want.o).enumerate() {
            assert!((g as f64 - e).abs() <= 1e-5, "case {n}: output[{t}] = {g}, want {e}");
        }
        for (t, (&g, &e)) in lse.iter().zip(&want.lse).enumerate() {
            if e == f64::NEG_INFINITY {
                assert_eq!(g, f32::NEG_INFINITY, "case {n}: lse[{t}]");
            } else {
                assert!((g as f64 - e).abs() <= 1e-5 * e.abs().max(1.0), "case {n}: lse[{t}] = {g}, want {e}");
            }
        }
        for (t, (&g, &e)) in w.iter().zip(&want.w).enumerate() {
            assert!((g as f64 - e).abs() <= 1e-5, "case {n}: weights[{t}] = {g}, want {e}");
        }
    }
}
