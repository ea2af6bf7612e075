use super::*;

fn lcg(seed: &mut u64) -> u64 {
    *seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
    *seed >> 33
}

fn pattern(seed: &mut u64, nq: usize, nk: usize) -> SparseMask {
    let mut row_ptr = vec![0u32];
    let mut col = Vec::new();
    for _ in 0..nq {
        let mut row: Vec<u32> = (0..3).map(|_| (lcg(seed) % nk as u64) as u32).collect();
        row.sort_unstable();
        row.dedup();
        col.extend(row);
        row_ptr.push(col.len() as u32);
    }
    let (bq, bk) = (5, 7);
    let (rows, cols) = ((nq + bq - 1) / bq, (nk + bk - 1) / bk);
    let data = (0..rows * cols).map(|_| (lcg(seed) % 5 == 0) as u8).collect();
    SparseMask {
        window: Some(lcg(seed) % 4),
        dilation: 1 + lcg(seed) % 3,
        shift: (lcg(seed) % 7) as i64 - 3,
        globals: vec![2, (nk / 2) as u32],
        layout: Some(Layout { data, bq, bk, rows, cols }),
        csr: Some(Csr { row_ptr, col }),
        ..SparseMask::default()
    }
}

#[test]
fn fill_row_matches_the_definition() {
    let mut seed = 7;
    for _ in 0..20 {
        let (nq, nk) = (40, 300);
        let sp = pattern(&mut seed, nq, nk);
        let mut allow = [false; 128];
        for gi in 0..nq as u64 {
            for &(gj0, n) in &[(0u64, 128usize), (128, 128), (256, 44), (3, 9)] {
                sp.fill_row(gi, gj0, &mut allow[..n]);
                for (t, &got) in allow[..n].iter().enumerate() {
                    assert_eq!(
                        got,
                        sp.allowed(gi, gj0 + t as u64),
                        "gi {} gj {} ({:?})",
                        gi,
                        gj0 + t as u64,
                        sp.window
                    );
                }
            }
        }
    }
}

#[test]
fn validation() {
    let ok = SparseMask {
        row_ptr: vec![0, 1, 2],
        idx: vec![0, 1],
        kind: vec![KIND_FULL, KIND_PARTIAL],
        dilation: 1,
        ..SparseMask::default()
    };
    assert!(ok.is_valid(40, 200));
    assert!(!ok.is_valid(70, 200), "three query blocks need four row pointers");
    assert!(!ok.is_valid(40, 128), "key block 1 does not exist for 128 keys");
    let mut bad = ok.clone();
    bad.kind[0] = 3;
    assert!(!bad.is_valid(40, 200));
    let mut bad = ok.clone();
    bad.row_ptr = vec![0, 2, 1];
    assert!(!bad.is_valid(40, 200));
    let mut bad = ok.clone();
    bad.dilation = 0;
    assert!(!bad.is_valid(40, 200));
    let mut bad = ok.clone();
    bad.globals = vec![3, 3];
    assert!(!bad.is_valid(40, 200));
    let mut bad = ok.clone();
    bad.csr = Some(Csr { row_ptr: vec![0; 41], col: vec![] });
    assert!(bad.is_valid(40, 200));
    bad.csr = Some(Csr { row_ptr: vec![0; 40], col: vec![] });
    assert!(!bad.is_valid(40, 200));
    assert_eq!(ok.kind_at(1, 1), KIND_PARTIAL);
    assert_eq!(ok.kind_at(1, 0), 0);
}
