//! The per-element rule of a PARTIAL block: whether global query gi may attend global key gj under the pattern
//! (the OR of its parts: dilated window, global tokens, block layout, CSR). `allowed` states it pair by pair (the
//! definition, also used by the tests); `fill_row` evaluates it for a run of keys at once.

use super::SparseMask;

impl SparseMask {
    /// The definition: (gi, gj) is allowed by the pattern.
    pub fn allowed(&self, gi: u64, gj: u64) -> bool {
        let in_window = self.window.map_or(false, |w| {
            let dist = gi as i64 + self.shift - gj as i64;
            let d = self.dilation as i64;
            dist.unsigned_abs() <= w.saturating_mul(self.dilation) && dist % d == 0
        });
        let global = self.globals.binary_search(&(gi as u32)).is_ok() && gi <= u32::MAX as u64
            || self.globals.binary_search(&(gj as u32)).is_ok() && gj <= u32::MAX as u64;
        let in_layout = self.layout.as_ref().map_or(false, |l| {
            let (r, c) = (gi as usize / l.bq, gj as usize / l.bk);
            r < l.rows && c < l.cols && l.data[r * l.cols + c] != 0
        });
        let in_csr = self.csr.as_ref().map_or(false, |c| {
            let row = &c.col[c.row_ptr[gi as usize] as usize..c.row_ptr[gi as usize + 1] as usize];
            gj <= u32::MAX as u64 && row.binary_search(&(gj as u32)).is_ok()
        });
        in_window || global || in_layout || in_csr
    }

    /// allow[t] = whether (gi, gj0 + t) is allowed, for t < allow.len().
    pub fn fill_row(&self, gi: u64, gj0: u64, allow: &mut [bool]) {
        let n = allow.len() as i64;
        let g0 = gj0 as i64;
        if self.globals.binary_search(&(gi as u32)).is_ok() {
            allow.fill(true);
            return;
        }
        allow.fill(false);
        if let Some(w) = self.window {
            let d = self.dilation as i64;
            let diag = gi as i64 + self.shift;
            let reach = w.saturating_mul(self.dilation).min(i64::MAX as u64 / 4) as i64;
            // Keys diag + m·d for m in [−w, w], inside [g0, g0 + n).
            let lo = (diag - reach).max(g0);
            let hi = (diag + reach).min(g0 + n - 1);
            if lo <= hi {
                let mut j = lo + (diag - lo).rem_euclid(d);
                while j <= hi {
                    allow[(j - g0) as usize] = true;
                    j += d;
                }
            }
        }
        let start = self.globals.partition_point(|&g| (g as i64) < g0);
        for &g in self.globals[start..].iter().take_while(|&&g| (g as i64) < g0 + n) {
            allow[(g as i64 - g0) as usize] = true;
        }
        if let Some(l) = &self.layout {
            let r = gi as usize / l.bq;
            if r < l.rows {
                for (t, a) in allow.iter_mut().enumerate() {
                    let c = (gj0 as usize + t) / l.bk;
                    *a |= c < l.cols && l.data[r * l.cols + c] != 0;
                }
            }
        }
        if let Some(c) = &self.csr {
            let row = &c.col[c.row_ptr[gi as usize] as usize..c.row_ptr[gi as usize + 1] as usize];
            let start = row.partition_point(|&x| (x as i64) < g0);
            for &x in row[start..].iter().take_while(|&&x| (x as i64) < g0 + n) {
                allow[(x as i64 - g0) as usize] = true;
            }
        }
    }
}
