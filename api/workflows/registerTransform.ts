/** `registerTransform`: registers a transform version through Temporal, visible in the UI. */
import { Type, type Static } from '@sinclair/typebox';
import { SourceName, TransformName, TransformVersion } from '../names';
import { TransformInputSchema } from './transform';
import { defineWorkflow, returns } from './define';

export const TransformLimitsSchema = Type.Object(
  {
    statementTimeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 86_400_000 })),
    lockTimeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 3_600_000 })),
    idleInTransactionMs: Type.Optional(Type.Integer({ minimum: 1000, maximum: 86_400_000 })),
    workMemMb: Type.Optional(Type.Integer({ minimum: 1, maximum: 65_536 })),
  },
  { additionalProperties: false },
);
export type TransformLimits = Static<typeof TransformLimitsSchema>;

/** What user SQL gets when its registration names no limit. */
export const DEFAULT_TRANSFORM_LIMITS: Required<TransformLimits> = {
  statementTimeoutMs: 600_000,
  lockTimeoutMs: 60_000,
  idleInTransactionMs: 600_000,
  workMemMb: 64,
};

export const RegisterTransformInputSchema = Type.Object(
  {
    name: TransformName,
    version: TransformVersion,
    /** Sources whose landed data wakes the transform (the SQL filters on them itself). */
    sources: Type.Array(SourceName, { minItems: 1, maxItems: 64, uniqueItems: true }),
    /** One SELECT over the log; $1 and $2 are the first and last `seq` of the range (inclusive, bigint). */
    sql: Type.String({ minLength: 1, maxLength: 100000 }),
    description: Type.Optional(Type.String({ maxLength: 2000 })),
    /** Limits of this version's SQL, applied with SET LOCAL around each of its statements (defaults: 10 min, 1 min, 10 min, 64 MB). */
    limits: Type.Optional(TransformLimitsSchema),
    /** Options of the incremental workflow that registration starts (when it is not running yet). */
    incremental: Type.Optional(
      Type.Pick(TransformInputSchema, ['chunkRows', 'parallelism', 'idleSeconds', 'historyLimit'], { additionalProperties: false }),
    ),
  },
  { additionalProperties: false },
);
export type RegisterTransformInput = Static<typeof RegisterTransformInputSchema>;

export interface TransformColumn {
  name: string;
  /** PostgreSQL type as `format_type` writes it (e.g. "bigint", "timestamp with time zone"). */
  type: string;
}

export interface RegisterTransformResult {
  name: string;
  version: number;
  sqlSha256: string;
  columns: TransformColumn[];
  /** false when the same version with the same SQL was registered before (idempotent retry). */
  created: boolean;
  /** The version the view points at after registration. */
  liveVersion: number;
}

export const registerTransform = defineWorkflow({
  name: 'registerTransform',
  description:
    'A transform version: one SELECT over the log using $1/$2 (first/last seq, inclusive), returning a bigint column seq. ' +
    'Registration also starts the incremental transform workflow, which catches up on the log already there.',
  input: RegisterTransformInputSchema,
  result: returns<RegisterTransformResult>(),
});
