/** What a pool worker offers over comlink (implemented in worker.ts). */
import type { TaskInput, TaskOutput } from './task.js';
import type { CacheRequest, ShardPartial } from './worker-cache.js';

/** Test hook: what a task should do to its worker instead of running (see PoolOptions.injectFault). */
export type Fault = 'crash' | 'hang' | 'throw';

export interface WorkerApi {
  /** Instantiates the (already compiled) module in this worker. */
  init(module: WebAssembly.Module): Promise<void>;
  /** The task's results, or null when it wrote them into its `sharedOut`. */
  run(task: TaskInput, fault?: Fault): TaskOutput | null | Promise<TaskOutput | null>;
  /** An operation on this worker's shard of a pool KV cache (ts/pool/worker-cache.ts). */
  cache(r: CacheRequest): ShardPartial | number | undefined;
}
