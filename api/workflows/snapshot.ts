/** `snapshot`: a derived table version (or a log range of it) as an Arrow IPC dataset in the artifact store. */
import { Type, type Static } from '@sinclair/typebox';
import { Seq, TransformName, TransformVersion } from '../names';
import { defineWorkflow, returns } from './define';

/** A column of the derived table (lower-case, as transform columns are named). */
const ColumnName = Type.String({ pattern: '^[a-z_][a-z0-9_]{0,62}$' });
const Fraction = Type.Number({ minimum: 0, maximum: 1 });

/** What a trainer reads: features, label, task (the shape activities/train's DatasetSpec takes), and the split rule. */
export const DatasetSpecSchema = Type.Object(
  {
    features: Type.Array(
      Type.Object(
        { name: ColumnName, kind: Type.Union([Type.Literal('numeric'), Type.Literal('categorical')]) },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 1000 },
    ),
    label: ColumnName,
    task: Type.Union([Type.Literal('binary'), Type.Literal('multiclass'), Type.Literal('regression')]),
    /**
     * Train/validation/test by a hash of the key column (default `seq`): a row's split depends on
     * its key alone, so it never changes when rows are added. Fractions default to 0.8/0.1/0.1
     * and must add up to 1.
     */
    split: Type.Optional(
      Type.Object(
        {
          key: Type.Optional(ColumnName),
          train: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1 })),
          validation: Type.Optional(Fraction),
          test: Type.Optional(Fraction),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type DatasetSpecInput = Static<typeof DatasetSpecSchema>;

export const SnapshotInputSchema = Type.Object(
  {
    transform: TransformName,
    /** Default: the live version. */
    version: Type.Optional(TransformVersion),
    /** Rows whose `seq` is in [fromSeq, toSeq] (decimal strings; open when absent). */
    fromSeq: Type.Optional(Seq),
    toSeq: Type.Optional(Seq),
    /** Columns to keep, in this order (default: every column of the table); `seq` is always kept, first. */
    columns: Type.Optional(Type.Array(ColumnName, { minItems: 1, maxItems: 1600, uniqueItems: true })),
    spec: DatasetSpecSchema,
  },
  { additionalProperties: false },
);
export type SnapshotInput = Static<typeof SnapshotInputSchema>;

export type SplitName = 'train' | 'validation' | 'test';

/** An artifact of the dataset: where it is and its digest. */
export interface DatasetFile {
  sha256: string;
  uri: string;
  size: number;
}

/** Float32 matrices for trainers without an Arrow reader, per split: X (numeric features) and y (label). */
export interface DatasetNpyFiles {
  X: DatasetFile;
  y: DatasetFile;
}

export interface SnapshotResult {
  /** sha256 of the Arrow IPC file = the dataset id. */
  datasetId: string;
  transform: string;
  version: number;
  rowCount: number;
  /** The Arrow IPC file in the artifact store. */
  uri: string;
  size: number;
  splitCounts: Record<SplitName, number>;
  npy: Record<SplitName, DatasetNpyFiles>;
  /** min/max `seq` of the rows (null when empty) and the range that was asked for. */
  coveredFromSeq: string | null;
  coveredToSeq: string | null;
  /** False when the same bytes were snapshotted before: the existing dataset row is returned. */
  created: boolean;
  /** The run that registered the dataset (this one, or an earlier one when `created` is false). */
  workflowId: string;
  runId: string;
}

export const snapshot = defineWorkflow({
  name: 'snapshot',
  description:
    'Streams a derived table version (or a log range of it) into an Arrow IPC file with a hash-based train/validation/test split, plus float32 .npy matrices, and registers it in sluice.datasets (id = sha256 of the Arrow bytes).',
  input: SnapshotInputSchema,
  result: returns<SnapshotResult>(),
});
