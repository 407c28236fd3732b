/** `validate`: a contract's expectation suite on a dataset, with data docs. */
import { Type, type Static } from '@sinclair/typebox';
import { ContractName, SemVer, Sha256, SourceName } from '../names';
import { defineWorkflow, returns } from './define';

const LogOffset = Type.String({ pattern: '^[0-9]{1,19}$', maxLength: 19 });

export const DatasetRefSchema = Type.Union([
  /** A table or view; schema defaults to sluice_derived (where transforms write). */
  Type.Object(
    {
      kind: Type.Literal('table'),
      table: Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,62}$', maxLength: 63 }),
      schema: Type.Optional(Type.Union([Type.Literal('sluice_derived'), Type.Literal('sluice_reference')])),
    },
    { additionalProperties: false },
  ),
  /** Rows of sluice.raw_events of one source, seq in [fromSeq, toSeq] (decimal strings; open when absent). */
  Type.Object(
    { kind: Type.Literal('log'), source: SourceName, fromSeq: Type.Optional(LogOffset), toSeq: Type.Optional(LogOffset) },
    { additionalProperties: false },
  ),
  /** An Arrow IPC snapshot in the artifact store, evaluated in the worker. */
  Type.Object({ kind: Type.Literal('arrow'), sha256: Sha256 }, { additionalProperties: false }),
]);
export type DatasetRef = Static<typeof DatasetRefSchema>;

export const ValidateInputSchema = Type.Object(
  {
    contract: ContractName,
    /** Default: the newest version. */
    version: Type.Optional(SemVer),
    dataset: DatasetRefSchema,
    /** The dataset drift expectations compare against. */
    baseline: Type.Optional(DatasetRefSchema),
    /** Failing rows kept per failed expectation (default 5, at most 100). */
    sampleSize: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
    /** Histograms and top values in the report (default true). */
    profile: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type ValidateInput = Static<typeof ValidateInputSchema>;

export interface ValidateResult {
  contract: string;
  contractVersion: string;
  passed: boolean;
  rowCount: number;
  expectations: number;
  errors: number;
  warnings: number;
  /** Names of failed `error` expectations (they block) and failed `warn` ones (recorded). */
  failedErrors: string[];
  failedWarnings: string[];
  reportSha256: string;
  reportUri: string;
  htmlSha256: string;
  htmlUri: string;
}

export const validate = defineWorkflow({
  name: 'validate',
  description: "Runs a contract's expectation suite on a table, a log range, or an Arrow snapshot in the artifact store.",
  input: ValidateInputSchema,
  result: returns<ValidateResult>(),
});
