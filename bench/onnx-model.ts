/**
 * Builds a one-node ONNX model in memory (field numbers from onnx/onnx.proto), so the benchmark needs no model file.
 */
import { ProtoWriter } from './protobuf.js';

const ELEM_FLOAT = 1; // TensorProto.DataType.FLOAT
const ATTR_FLOAT = 1; // AttributeProto.AttributeType
const ATTR_INT = 2;
const IR_VERSION = 11; // ONNX 1.18, the release that introduced opset 23

export interface TensorSpec {
  name: string;
  dims: readonly number[];
}

export type AttributeValue = { int: number } | { float: number };

export interface SingleNodeModel {
  opType: string;
  /** '' = the standard ONNX domain. */
  domain: string;
  opsetVersion: number;
  inputs: readonly TensorSpec[];
  outputs: readonly TensorSpec[];
  attributes?: Record<string, AttributeValue>;
}

function valueInfo(t: TensorSpec): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of t.dims) shape.message(1 /* dim */, new ProtoWriter().int(1 /* dim_value */, d));
  const tensorType = new ProtoWriter().int(1 /* elem_type */, ELEM_FLOAT).message(2 /* shape */, shape);
  const type = new ProtoWriter().message(1 /* tensor_type */, tensorType);
  return new ProtoWriter().string(1 /* name */, t.name).message(2 /* type */, type);
}

function attribute(name: string, value: AttributeValue): ProtoWriter {
  const a = new ProtoWriter().string(1 /* name */, name);
  if ('int' in value) a.int(20 /* type */, ATTR_INT).int(3 /* i */, value.int);
  else a.int(20 /* type */, ATTR_FLOAT).float(2 /* f */, value.float);
  return a;
}

function opset(domain: string, version: number): ProtoWriter {
  const o = new ProtoWriter();
  if (domain) o.string(1 /* domain */, domain);
  return o.int(2 /* version */, version);
}

/** Serialised ModelProto with one node reading the graph inputs and writing the graph outputs, in order. */
export function buildSingleNodeModel(m: SingleNodeModel): Uint8Array {
  const node = new ProtoWriter();
  for (const t of m.inputs) node.string(1 /* input */, t.name);
  for (const t of m.outputs) node.string(2 /* output */, t.name);
  node.string(3 /* name */, `${m.opType}_0`).string(4 /* op_type */, m.opType);
  for (const [name, value] of Object.entries(m.attributes ?? {})) node.message(5 /* attribute */, attribute(name, value));
  if (m.domain) node.string(7 /* domain */, m.domain);

  const graph = new ProtoWriter().message(1 /* node */, node).string(2 /* name */, 'bench');
  for (const t of m.inputs) graph.message(11 /* input */, valueInfo(t));
  for (const t of m.outputs) graph.message(12 /* output */, valueInfo(t));

  const model = new ProtoWriter()
    .int(1 /* ir_version */, IR_VERSION)
    .string(2 /* producer_name */, 'webattn-bench')
    .message(7 /* graph */, graph);
  // The standard domain is always imported (the node may live in another domain, e.g. com.microsoft).
  model.message(8 /* opset_import */, opset('', m.domain ? 21 : m.opsetVersion));
  if (m.domain) model.message(8, opset(m.domain, m.opsetVersion));
  return model.finish();
}
