/**
 * Measuring a device's loop budget. Mesa's gallivm (llvmpipe, lavapipe) counts every loop iteration of a shader
 * invocation and silently breaks out of all loops once 65535 have run; results are then wrong without any error.
 * A device the caller hands us comes without its adapter, so its name cannot tell; one tiny dispatch that runs a
 * loop past that count and reports how far it got can. A driver without such a limit runs it to the end.
 */
import { BUFFER_USAGE, MAP_MODE_READ, SHADER_STAGE_COMPUTE } from './gpu-types.js';
import type { GpuBufferLike, GpuDeviceLike } from './gpu-types.js';

/** Iterations the probe asks for: well past the 65535 of gallivm. */
const PROBE_ITERATIONS = 1 << 17;

/** io[0]: iterations to run, io[1]: seed; the shader writes the iterations it ran to io[2] and the LCG state to io[3]
 * (the state depends on every iteration, so the compiler cannot fold the loop into its trip count). */
const PROBE_WGSL = /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> io: array<u32, 4>;

@compute @workgroup_size(1)
fn main() {
  let limit = io[0];
  var x = io[1];
  var n = 0u;
  loop {
    if (n >= limit) { break; }
    x = x * 1664525u + 1013904223u;
    n = n + 1u;
  }
  io[2] = n;
  io[3] = x;
}
`;

/**
 * The number of loop iterations after which `device` stops a shader invocation's loops, or undefined when it ran
 * the whole probe (no limit seen). Throws when the probe itself cannot run (the caller falls back to the adapter's
 * name).
 */
export async function probeLoopBudget(device: GpuDeviceLike): Promise<number | undefined> {
  const buffers: GpuBufferLike[] = [];
  let scoped = true;
  device.pushErrorScope('validation');
  try {
    const io = device.createBuffer({ size: 16, usage: BUFFER_USAGE.STORAGE | BUFFER_USAGE.COPY_SRC | BUFFER_USAGE.COPY_DST, label: 'webattn loop probe' });
    const read = device.createBuffer({ size: 16, usage: BUFFER_USAGE.MAP_READ | BUFFER_USAGE.COPY_DST, label: 'webattn loop probe read' });
    buffers.push(io, read);
    const layout = device.createBindGroupLayout({
      entries: [{ binding: 0, visibility: SHADER_STAGE_COMPUTE, buffer: { type: 'storage' } }],
      label: 'webattn loop probe',
    });
    const pipeline = await device.createComputePipelineAsync({
      layout: device.createPipelineLayout({ bindGroupLayouts: [layout], label: 'webattn loop probe' }),
      compute: { module: device.createShaderModule({ code: PROBE_WGSL, label: 'webattn loop probe' }), entryPoint: 'main' },
      label: 'webattn loop probe',
    });
    device.queue.writeBuffer(io, 0, new Uint32Array([PROBE_ITERATIONS, 12345, 0, 0]));
    const encoder = device.createCommandEncoder({ label: 'webattn loop probe' });
    const pass = encoder.beginComputePass({ label: 'webattn loop probe' });
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, device.createBindGroup({ layout, entries: [{ binding: 0, resource: { buffer: io } }], label: 'webattn loop probe' }));
    pass.dispatchWorkgroups(1);
    pass.end();
    encoder.copyBufferToBuffer(io, 0, read, 0, 16);
    device.queue.submit([encoder.finish()]);
    await read.mapAsync(MAP_MODE_READ, 0, 16);
    const ran = new Uint32Array(read.getMappedRange(0, 16).slice(0))[2]!;
    read.unmap();
    scoped = false;
    const error = await device.popErrorScope();
    if (error) throw new Error(`loop probe: ${error.message}`);
    if (ran === 0) throw new Error('loop probe: the shader did not run');
    return ran < PROBE_ITERATIONS ? ran : undefined;
  } catch (e) {
    // Keep the device's error scopes balanced when the probe failed before popping its own.
    if (scoped) await device.popErrorScope().catch(() => null);
    throw e;
  } finally {
    for (const b of buffers) b.destroy();
  }
}
