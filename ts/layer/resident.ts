/**
 * Matrices held in this thread's wasm memory, so that a layer's weights are copied into wasm once instead of on
 * every product. A `WasmMatrix` owns a block from wa_alloc (freed by `dispose()`, or when the owner is collected);
 * `view(row0, rows)` gives a non-owning window of whole rows (q, k, v inside a stacked qkv matrix).
 */
import { AttentionError } from '../errors.js';
import { getExports, type KernelExports } from '../core/loader.js';

const ALIGN = 16;

interface Block {
  k: KernelExports;
  ptr: number;
  bytes: number;
  freed: boolean;
}

const registry = new FinalizationRegistry<Block>((b) => free(b));

function free(b: Block): void {
  if (b.freed) return;
  b.freed = true;
  b.k.wa_free(b.ptr, b.bytes, ALIGN);
}

export class WasmMatrix {
  private constructor(
    private readonly block: Block,
    /** Byte address of row 0. */
    private readonly at: number,
    readonly rows: number,
    readonly cols: number,
  ) {}

  /** Copies `data` ([rows, cols], row-major) into a new block of this thread's wasm memory (await init() first). */
  static upload(data: Float32Array, rows: number, cols: number): WasmMatrix {
    const k = getExports('WasmMatrix.upload');
    const bytes = 4 * rows * cols;
    const ptr = k.wa_alloc(bytes, ALIGN) >>> 0;
    if (ptr === 0) {
      throw new AttentionError('OUT_OF_MEMORY', 'memory', `${bytes} bytes of wasm memory for a weight matrix`, 'the allocation failed');
    }
    new Float32Array(k.memory.buffer, ptr, rows * cols).set(data.subarray(0, rows * cols));
    const block: Block = { k, ptr, bytes, freed: false };
    const m = new WasmMatrix(block, ptr, rows, cols);
    registry.register(m, block, block);
    return m;
  }

  /** Rows [row0, row0 + rows) as a matrix sharing this one's memory (valid while this one is not disposed). */
  view(row0: number, rows: number): WasmMatrix {
    if (row0 < 0 || rows < 1 || row0 + rows > this.rows) throw new RangeError(`WasmMatrix.view: rows ${row0}..${row0 + rows} of ${this.rows}`);
    return new WasmMatrix(this.block, this.at + 4 * row0 * this.cols, rows, this.cols);
  }

  /** The byte address of row 0 in `k`'s memory; throws if the matrix was disposed or lives in another instance. */
  address(k: KernelExports): number {
    if (this.block.freed) throw new AttentionError('INVALID_OPTION', 'weights', 'live weights', 'a disposed WasmMatrix');
    if (this.block.k !== k) throw new AttentionError('INVALID_OPTION', 'weights', 'weights uploaded by this thread', 'a WasmMatrix of another wasm instance');
    return this.at;
  }

  get disposed(): boolean {
    return this.block.freed;
  }

  /** Frees the wasm block (every view of it too). Idempotent. */
  dispose(): void {
    registry.unregister(this.block);
    free(this.block);
  }
}
