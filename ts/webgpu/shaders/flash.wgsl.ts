/**
 * FlashAttention-2 forward in WGSL. A workgroup owns BR query rows of one (batch, KV head) — the rows of the query
 * heads sharing that KV head are stacked (GQA/MQA), so each K/V tile serves all of them; it walks the key
 * blocks of its key range, staging BC keys × DC columns of K (then of V) in workgroup memory, and keeps the online
 * softmax state (running max m, running sum l, the output row) in registers. LANES = 64 / BR threads share a row:
 * each computes KPT = BC / LANES logits of the block and owns the output columns lane, lane + LANES, …
 *
 * The same kernel, specialised with `split`, is the decode kernel: the key range is cut into n_splits ranges, one
 * workgroup per (query block, range), and each writes its normalised partial output and partial LSE to a scratch
 * buffer that merge.wgsl.ts combines by log-sum-exp.
 */
import { WORKGROUP, commonWgsl } from './common.wgsl.js';

export interface FlashConfig {
  /** Query rows per workgroup (divides 64). */
  br: number;
  /** Keys per block (a multiple of 64 / br). */
  bc: number;
  /** Head-dimension columns staged at a time (a multiple of 64 / br). */
  dc: number;
  /** Output columns covered by the register accumulator: Dv rounded up to a multiple of dc. */
  dvPad: number;
  /** Write partial results for an LSE merge (decode) instead of the final output. */
  split: boolean;
  /** q, k, v stored as f16. */
  f16: boolean;
}

export function flashWgsl(c: FlashConfig): string {
  const lanes = WORKGROUP / c.br;
  const kpt = c.bc / lanes;
  const dvt = c.dvPad / lanes;
  if (!Number.isInteger(lanes) || !Number.isInteger(kpt) || c.dc % lanes !== 0 || c.dvPad % c.dc !== 0 || c.bc > WORKGROUP) {
    throw new Error(`flashWgsl: inconsistent config ${JSON.stringify(c)}`);
  }
  const write = c.split
    ? /* wgsl */ `
    // Partial result of key range \`split\`: normalised output row, its running max m and its sum l (NaN m for a NaN
    // row; with ALiBi, of the shifted logits: see alibi_r), row index R = split·rows + row. (m, l) rather than
    // m + log l: at logits near ±1e38 the log of the count is below an ulp of the LSE, and the merge would weigh
    // every range alike.
    let prow = split * P.rows + (b * P.hq + h) * P.nq + i;
    for (var x = 0u; x < DVT; x++) {
      let col = lane + LANES * x;
      if (col < P.dv) { OUT[prow * P.dv + col] = o[x] * inv; }
    }
    if (lane == 0u) {
      OUT[P.lse_base + prow] = select(m, nan(), row_nan);
      OUT[P.lse_base + P.n_splits * P.rows + prow] = l;
    }`
    : /* wgsl */ `
    let obase = b * P.o_sb + h * P.o_sh + i * P.o_sr;
    for (var x = 0u; x < DVT; x++) {
      let col = lane + LANES * x;
      if (col < P.dv) { OUT[obase + col] = o[x] * inv; }
    }
    if (lane == 0u && P.want_lse != 0u) { OUT[P.lse_base + (b * P.hq + h) * P.nq + i] = lse; }
    if (lane == 0u && P.ml_base != 0u) { // the row's (max, sum) for the weights kernel
      let orow = (b * P.hq + h) * P.nq + i;
      OUT[P.ml_base + 2u * orow] = select(m, nan(), row_nan);
      OUT[P.ml_base + 2u * orow + 1u] = l;
    }`;

  return /* wgsl */ `${commonWgsl(c.f16)}
const BR: u32 = ${c.br}u;
const BC: u32 = ${c.bc}u;
const DC: u32 = ${c.dc}u;
const LANES: u32 = ${lanes}u;
const KPT: u32 = ${kpt}u;
const DVT: u32 = ${dvt}u;

// Tile rows are padded to DC + 1 floats so that threads reading down a column hit different banks.
const DP: u32 = ${c.dc + 1}u;
var<workgroup> sq: array<f32, ${c.br * (c.dc + 1)}>;
var<workgroup> skv: array<f32, ${c.bc * (c.dc + 1)}>;
var<workgroup> ss: array<f32, ${c.br * c.bc}>;
// Cosine similarity: the largest exponent of each query row, and of each key of the block over the columns staged
// so far (see cos_pow in common.wgsl.ts).
var<workgroup> qexp: array<atomic<u32>, BR>;
var<workgroup> kexp: array<atomic<u32>, BC>;

// Stacked row R of KV head kvh: query head kvh·group + R / Nq, query row R % Nq (GQA: the query heads that share a
// KV head are rows of one block, so each K/V tile is loaded once for all of them).
fn stage_q(b: u32, kvh: u32, r0: u32, c0: u32, t: u32) {
  for (var idx = t; idx < BR * DC; idx += ${WORKGROUP}u) {
    let rr = r0 + idx / DC;
    let col = c0 + idx % DC;
    var x = 0.0;
    if (rr < P.group * P.nq && col < P.dk) {
      let h = kvh * P.group + rr / P.nq;
      x = ld_q(b * P.q_sb + h * P.q_sh + (rr % P.nq) * P.q_sr + col);
      if (P.cosine != 0u) { x *= pow2(cos_pow(atomicLoad(&qexp[idx / DC]))); }
    }
    sq[(idx / DC) * DP + idx % DC] = x;
  }
}

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  // Workgroup id = ((b · Hkv + kvh) · n_splits + split) · n_qblocks + qb, laid out on a grid_x × grid_y × z grid (each
  // dimension within the device's limit, so long GQA prefills with more than 65535 query blocks still dispatch).
  let id = (wg.z * P.grid_y + wg.y) * P.grid_x + wg.x;
  let per_head = P.n_qblocks * P.n_splits;
  if (id >= per_head * P.hkv * P.b) { return; } // uniform: the whole workgroup leaves
  let qb = id % P.n_qblocks;
  let split = (id / P.n_qblocks) % P.n_splits;
  let kvh = (id / per_head) % P.hkv;
  let b = id / (per_head * P.hkv);
  let r = t / LANES;
  let lane = t % LANES;
  let rows = P.group * P.nq;
  let r0 = qb * BR;
  let rr = r0 + r;
  let live = rr < rows;
  let h = kvh * P.group + min(rr, rows - 1u) / P.nq;
  let i = rr % P.nq;
  let gi = P.q_start + i;
  let ql = q_len(b);
  let kl = k_len(b);

  // Keys [lo, hi) of this workgroup: its split range, clipped by the key length and by the window of its rows
  // (query rows i0..i1 - 1; all of them when the block spans two heads).
  let r1 = min(rows, r0 + BR);
  let one_head = r0 / P.nq == (r1 - 1u) / P.nq;
  let i0 = select(0u, r0 % P.nq, one_head);
  let i1 = select(P.nq, (r1 - 1u) % P.nq + 1u, one_head);
  var lo = i32(split * P.split_len);
  var hi = i32(min(P.nk, (split + 1u) * P.split_len));
  let gi0 = P.q_start + i0;
  let gi1 = min(P.q_start + i1, ql);
  if (gi1 <= gi0) {
    hi = lo;
  } else {
    let shift = select(0, i32(kl) - i32(ql), P.bottom_right != 0u);
    let ks = i32(P.k_start);
    hi = min(hi, i32(kl) - ks);
    if (P.win_right >= 0) { hi = min(hi, i32(gi1) + shift + P.win_right - ks); }
    if (P.win_left >= 0) { lo = max(lo, i32(gi0) + shift - P.win_left - ks); }
  }

  var m = NEG;
  var l = 0.0;
  var row_nan = false;
  var o: array<f32, DVT>;
  for (var x = 0u; x < DVT; x++) { o[x] = 0.0; }
  var qn = 0.0;
  var qp = 0;
  if (P.cosine != 0u) {
    if (live) {
      let qo = b * P.q_sb + h * P.q_sh + i * P.q_sr;
      var e = 0u;
      for (var col = lane; col < P.dk; col += LANES) { e = max(e, exp_bits(ld_q(qo + col))); }
      atomicMax(&qexp[r], e);
    }
    workgroupBarrier();
    qp = cos_pow(atomicLoad(&qexp[r]));
  }
  let q_once = P.dk <= DC;
  if (q_once) {
    stage_q(b, kvh, r0, 0u, t);
    workgroupBarrier();
    if (P.cosine != 0u) {
      for (var c = 0u; c < DC; c++) { let x = sq[r * DP + c]; qn += x * x; }
    }
  }

  for (var j0 = lo; j0 < hi; j0 += i32(BC)) {
    let ju = u32(j0);
    // S = Q·Kᵀ for this key block, DC columns at a time.
    var s: array<f32, KPT>;
    var kn: array<f32, KPT>;
    var kp: array<i32, KPT>; // cosine: the power of two the key's columns are multiplied by (running, per chunk)
    for (var x = 0u; x < KPT; x++) { s[x] = 0.0; kn[x] = 0.0; kp[x] = 127; }
    var qn_blk = 0.0;
    if (P.cosine != 0u && t < BC) { atomicStore(&kexp[t], 0u); } // the barrier below orders it before the staging
    for (var c0 = 0u; c0 < P.dk; c0 += DC) {
      workgroupBarrier();
      if (!q_once) { stage_q(b, kvh, r0, c0, t); }
      for (var idx = t; idx < BC * DC; idx += ${WORKGROUP}u) {
        let j = ju + idx / DC;
        let col = c0 + idx % DC;
        var x = 0.0;
        if (j < u32(hi) && col < P.dk) {
          x = ld_k(b * P.k_sb + kvh * P.k_sh + j * P.k_sr + col);
          if (P.cosine != 0u) { atomicMax(&kexp[idx / DC], exp_bits(x)); }
        }
        skv[(idx / DC) * DP + idx % DC] = x;
      }
      workgroupBarrier();
      if (P.cosine != 0u) {
        // A key whose largest exponent grew in this chunk: its sums so far move to the new (smaller) power of two.
        var ks: array<f32, KPT>;
        for (var x = 0u; x < KPT; x++) {
          let p = cos_pow(atomicLoad(&kexp[lane + LANES * x]));
          let f = pow2(p - kp[x]);
          s[x] *= f;
          kn[x] *= f * f;
          kp[x] = p;
          ks[x] = pow2(p);
        }
        for (var c = 0u; c < DC; c++) {
          let qv = sq[r * DP + c];
          qn_blk += qv * qv;
          for (var x = 0u; x < KPT; x++) {
            let kv = skv[(lane + LANES * x) * DP + c] * ks[x];
            s[x] += qv * kv;
            kn[x] += kv * kv;
          }
        }
      } else {
        for (var c = 0u; c < DC; c++) {
          let qv = sq[r * DP + c];
          qn_blk += qv * qv;
          for (var x = 0u; x < KPT; x++) {
            let kv = skv[(lane + LANES * x) * DP + c];
            s[x] += qv * kv;
            kn[x] += kv * kv;
          }
        }
      }
    }
    if (!q_once) { qn = qn_blk; }

    // Logits (NEG where not allowed), shared through ss; then the row max.
    for (var x = 0u; x < KPT; x++) {
      let jj = lane + LANES * x;
      let j = ju + jj;
      var logit = NEG;
      if (live && j < u32(hi) && pos_ok(gi, P.k_start + j, ql, kl) && mask_ok(b, h, i, j)) {
        var sim = s[x];
        let bad = is_nan(sim); // before max / clamp / tanh, which may drop a NaN
        if (P.cosine != 0u) { sim = sim / (max(sqrt(qn), COSINE_EPS * pow2(qp)) * max(sqrt(kn[x]), COSINE_EPS * pow2(kp[x]))); }
        logit = finish_logit(sim, b, h, i, j);
        if (bad) { logit = nan(); }
      }
      ss[r * BC + jj] = logit;
    }
    workgroupBarrier();
    var mx = m;
    for (var jj = 0u; jj < BC; jj++) {
      let x = ss[r * BC + jj];
      if (is_nan(x)) { row_nan = true; } else { mx = max(mx, x); }
    }
    let alpha = exp(m - mx);
    m = mx;
    workgroupBarrier();
    for (var x = 0u; x < KPT; x++) {
      let jj = lane + LANES * x;
      let logit = ss[r * BC + jj];
      ss[r * BC + jj] = select(0.0, exp(logit - mx), logit > LIVE);
    }
    l = l * alpha;
    for (var x = 0u; x < DVT; x++) { o[x] = o[x] * alpha; }

    // O += P·V, DC value columns at a time.
    for (var c0 = 0u; c0 < P.dv; c0 += DC) {
      workgroupBarrier();
      for (var idx = t; idx < BC * DC; idx += ${WORKGROUP}u) {
        let j = ju + idx / DC;
        let col = c0 + idx % DC;
        var x = 0.0;
        if (j < u32(hi) && col < P.dv) { x = ld_v(b * P.v_sb + kvh * P.v_sh + j * P.v_sr + col); }
        skv[(idx / DC) * DP + idx % DC] = x;
      }
      workgroupBarrier();
      let x0 = c0 / LANES;
      for (var jj = 0u; jj < BC; jj++) {
        let p = ss[r * BC + jj];
        if (c0 == 0u) { l += p; }
        for (var x = 0u; x < DC / LANES; x++) {
          o[x0 + x] += p * skv[jj * DP + lane + LANES * x];
        }
      }
    }
  }

  if (live) {
    let ok = l > 0.0;
    var inv = select(0.0, 1.0 / l, ok);
    var lse = select(neg_inf(), (m + log(l)) + alibi_lse(b, h, i), ok);
    if (row_nan) { inv = nan(); lse = nan(); }${write}
  }
}
`;
}
