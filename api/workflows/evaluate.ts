/** `evaluate`: a model's metrics, inference cost and model card on the test split of an Arrow file. */
import { Type, type Static } from '@sinclair/typebox';
import type { EvaluateModelResult } from '../models';
import { ContractName, SemVer, SeqOrZero, Sha256, SourceName, TransformName, TransformVersion } from '../names';
import { defineWorkflow, returns } from './define';

const ClassLabel = Type.Union([Type.String({ maxLength: 1000 }), Type.Number()]);

export const TestSplitRefSchema = Type.Object(
  {
    /** sha256 of the Arrow IPC file in the artifact store (feature columns, the label and the split column). */
    arrowSha256: Sha256,
    /** Column that marks the split (default `__split`). */
    splitColumn: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    /** Values of the split column that mark a test row, compared as text (default ['test', 2]). */
    testValues: Type.Optional(Type.Array(Type.Union([Type.String({ maxLength: 200 }), Type.Number()]), { minItems: 1, maxItems: 20 })),
    /** Label column (default: the model's `sluice.label` metadata). */
    labelColumn: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  },
  { additionalProperties: false },
);
export type TestSplitRef = Static<typeof TestSplitRefSchema>;

/** What produced a model, shown on its card; every field optional. */
export const ModelCardLineageSchema = Type.Object(
  {
    model: Type.Optional(Type.String({ maxLength: 200 })),
    version: Type.Optional(Type.Integer({ minimum: 1 })),
    datasetId: Type.Optional(Sha256),
    transform: Type.Optional(
      Type.Object({ name: TransformName, version: TransformVersion, buildSha256: Type.Optional(Sha256) }, { additionalProperties: false }),
    ),
    /** Per source: {"page_views": {"fromSeq": "1", "toSeq": "900"}}. */
    logRange: Type.Optional(
      Type.Record(
        SourceName,
        Type.Object({ fromSeq: Type.Optional(SeqOrZero), toSeq: Type.Optional(SeqOrZero) }, { additionalProperties: false }),
      ),
    ),
    /** Per contract: the versions of the rows. */
    contracts: Type.Optional(Type.Record(ContractName, Type.Array(SemVer, { maxItems: 100 }))),
    codeVersion: Type.Optional(Type.String({ maxLength: 200 })),
    codeDirty: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
    trainer: Type.Optional(Type.String({ maxLength: 100 })),
    parameters: Type.Optional(Type.Record(Type.String({ maxLength: 100 }), Type.Unknown())),
    seed: Type.Optional(Type.Integer()),
    workflowId: Type.Optional(Type.String({ maxLength: 1000 })),
    runId: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);
export type ModelCardLineage = Static<typeof ModelCardLineageSchema>;

export const EvaluateInputSchema = Type.Object(
  {
    /** sha256 of the ONNX file in the artifact store (checked against the bytes before loading). */
    onnxSha256: Sha256,
    testSplit: TestSplitRefSchema,
    task: Type.Union([Type.Literal('binary'), Type.Literal('multiclass'), Type.Literal('regression')]),
    /** The model's classes in class-index order (classification); must match the file's metadata. */
    classes: Type.Optional(Type.Array(ClassLabel, { minItems: 2, maxItems: 1000 })),
    /** Shown on the card (default: the lineage's model, else the file's label name). */
    modelName: Type.Optional(Type.String({ maxLength: 200 })),
    lineage: Type.Optional(ModelCardLineageSchema),
    /** Rows per inference call while scoring (default 4096). */
    batchSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
    /** Latency measurement per batch size (1 and 1024): timed runs (default 200) and a time cap (default 3000 ms). */
    latency: Type.Optional(
      Type.Object(
        {
          runs: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
          budgetMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 600_000 })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type EvaluateModelInput = Static<typeof EvaluateInputSchema>;

export const evaluate = defineWorkflow({
  name: 'evaluate',
  description:
    'Scores a model (ONNX, in the artifact store) on the test split of an Arrow file: metrics, inference latency and a self-contained HTML model card.',
  input: EvaluateInputSchema,
  result: returns<EvaluateModelResult>(),
});
