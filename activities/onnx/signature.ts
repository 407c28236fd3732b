/**
 * A sluice model's signature, read from the metadata its ONNX file carries (activities/onnx
 * trainedModel.ts writes it): the raw features it takes, its task and classes, and the JSON Schema
 * of one input row. The scoring service checks request rows against that schema before anything
 * reaches onnxruntime (a missing or mistyped feature is a 400, never a NaN prediction), and the
 * deploy workflow compares a candidate's signature with the endpoint's.
 */
import type { ModelClassLabel, ModelTask } from '../../api/models';
import { OnnxFormatError, readOnnxMetadata } from './metadata';

export interface ModelSignature {
  task: ModelTask;
  label: string;
  /** In the order of the `numeric` input tensor's columns. */
  numericFeatures: string[];
  /** One string input tensor each; '' means missing. */
  categoricalFeatures: string[];
  /** Class index k is classes[k]; empty for regression. */
  classes: ModelClassLabel[];
}

/** A file without sluice's metadata, or with metadata that does not parse. */
export class ModelSignatureError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelSignatureError';
  }
}

const TASKS: readonly ModelTask[] = ['binary', 'multiclass', 'regression'];

function jsonList<T>(meta: Map<string, string>, key: string, check: (v: unknown) => v is T): T[] | undefined {
  const raw = meta.get(key);
  if (raw === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ModelSignatureError(`metadata entry ${key} is not JSON`);
  }
  if (!Array.isArray(parsed) || !parsed.every(check))
    throw new ModelSignatureError(`metadata entry ${key} is not a list of the expected kind`);
  return parsed;
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isClassLabel = (v: unknown): v is ModelClassLabel => typeof v === 'string' || typeof v === 'number';

/** The signature recorded in an ONNX file; `what` names the file in errors (e.g. "model churn@3"). */
export function readModelSignature(onnx: Uint8Array, what = 'the ONNX model'): ModelSignature {
  let meta: Map<string, string>;
  try {
    meta = readOnnxMetadata(onnx);
  } catch (err) {
    if (err instanceof OnnxFormatError) throw new ModelSignatureError(`${what} is not an ONNX file: ${err.message}`);
    throw err;
  }
  try {
    const task = meta.get('sluice.task');
    const numericFeatures = jsonList(meta, 'sluice.numeric_features', isString);
    const categoricalFeatures = jsonList(meta, 'sluice.categorical_features', isString);
    if (!task || !numericFeatures || !categoricalFeatures) {
      throw new ModelSignatureError(
        'it lacks sluice metadata (sluice.task, sluice.numeric_features, sluice.categorical_features): only models exported by sluice or checked by its command trainer have one',
      );
    }
    if (!TASKS.includes(task as ModelTask))
      throw new ModelSignatureError(`metadata sluice.task is ${JSON.stringify(task)}, not one of ${TASKS.join(', ')}`);
    const classes = jsonList(meta, 'sluice.classes', isClassLabel) ?? [];
    if (task !== 'regression' && classes.length < 2)
      throw new ModelSignatureError('a classification model must record at least two classes (sluice.classes)');
    return { task: task as ModelTask, label: meta.get('sluice.label') ?? 'label', numericFeatures, categoricalFeatures, classes };
  } catch (err) {
    if (err instanceof ModelSignatureError) throw new ModelSignatureError(`${what}: ${err.message}`);
    throw err;
  }
}

/**
 * JSON Schema (draft-07, ajv strict-compatible) of one request row: every feature required, no
 * other property; numeric features are JSON numbers (JSON has no NaN or Infinity), categorical
 * ones strings, or null for missing.
 */
export function rowSchema(sig: ModelSignature): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  for (const f of sig.numericFeatures) properties[f] = { type: 'number' };
  for (const f of sig.categoricalFeatures) properties[f] = { type: ['string', 'null'] };
  return {
    type: 'object',
    properties,
    required: [...sig.numericFeatures, ...sig.categoricalFeatures],
    additionalProperties: false,
  };
}

/** Why a candidate cannot serve where `current` serves (different inputs or task), or undefined when it can. */
export function signatureMismatch(current: ModelSignature, candidate: ModelSignature): string | undefined {
  const same = (a: string[], b: string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);
  if (current.task !== candidate.task) return `the candidate is a ${candidate.task} model, the endpoint serves a ${current.task} model`;
  if (!same(current.numericFeatures, candidate.numericFeatures))
    return `numeric features differ: endpoint ${JSON.stringify(current.numericFeatures)}, candidate ${JSON.stringify(candidate.numericFeatures)}`;
  if (!same(current.categoricalFeatures, candidate.categoricalFeatures))
    return `categorical features differ: endpoint ${JSON.stringify(current.categoricalFeatures)}, candidate ${JSON.stringify(candidate.categoricalFeatures)}`;
  if (JSON.stringify(current.classes) !== JSON.stringify(candidate.classes))
    return `classes differ: endpoint ${JSON.stringify(current.classes)}, candidate ${JSON.stringify(candidate.classes)}`;
  return undefined;
}
