/** One task on this thread's wasm instance: the pool workers run it, and so does the calling thread when it takes a share. */
import { runDescriptor } from '../core/call.js';
import { runVariant } from '../variants/call.js';
import { taskDescriptor, type TaskInput, type TaskOutput } from './task.js';

export function runTask(task: TaskInput): TaskOutput {
  const d = taskDescriptor(task);
  const r = d.variant ? runVariant(d) : runDescriptor(d);
  const out: TaskOutput = { output: r.output };
  if (r.lse) out.lse = r.lse;
  if (r.weights) out.weights = r.weights;
  return out;
}
