/** The validate step's activities: run a contract's expectation suite on a dataset and publish its report. */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Pool } from 'pg';
import { canonicalJson } from '../../contracts/canonical';
import { ContractRegistry, UnknownContractError, type Contract } from '../../contracts/registry';
import { ErrorCodes } from '../../workflows/errors';
import { tableFromIPC } from 'apache-arrow';
import { ArtifactNotFoundError, type ArtifactStore } from '../artifacts';
import { runSuiteOnArrow, type ArrowDataset } from './arrow';
import { DatasetError, type DatasetRef } from './dataset';
import { runSuiteOnDataset } from './postgres';
import { renderHtmlReport, type ValidationReport } from './report';
import type { SuiteRun } from './results';

export interface RunExpectationSuiteInput {
  contract: string;
  /** Default: the newest version. */
  version?: string;
  dataset: DatasetRef;
  /** The dataset drift expectations compare against. */
  baseline?: DatasetRef;
  /** Failing rows kept per failed expectation (default 5, at most 100). */
  sampleSize?: number;
  /** Histograms and top values in the report (default true). */
  profile?: boolean;
}

export interface RunExpectationSuiteResult {
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
  runEventDetails: Record<string, unknown>;
}

/**
 * What the validate activities need, built once by the worker and handed in: the pool, the artifact
 * store the reports go to (and Arrow snapshots come from), and the contract registry (default: the
 * contract files, read on first use).
 */
export interface ValidateDeps {
  pool: Pool;
  artifacts: ArtifactStore;
  contracts?: ContractRegistry;
}

async function loadSnapshot(store: ArtifactStore, sha256: string): Promise<ArrowDataset> {
  let bytes: Buffer;
  try {
    bytes = await store.get(sha256);
  } catch (err) {
    if (err instanceof ArtifactNotFoundError) throw new DatasetError(`Arrow snapshot ${sha256} is not in the artifact store`);
    throw err;
  }
  try {
    return { table: tableFromIPC(bytes), describe: `arrow snapshot ${sha256.slice(0, 12)}` };
  } catch (err) {
    throw new DatasetError(`artifact ${sha256} is not Arrow IPC: ${(err as Error).message}`);
  }
}

export function createValidateActivities(deps: ValidateDeps) {
  let registry = deps.contracts;
  const store = deps.artifacts;
  const contractOf = (name: string, version?: string): Contract => {
    registry ??= ContractRegistry.fromDirectory();
    try {
      return registry.get(name, version);
    } catch (err) {
      if (err instanceof UnknownContractError) throw ApplicationFailure.create({ type: ErrorCodes.UnknownContract, nonRetryable: true, message: err.message });
      throw err;
    }
  };

  return {
    /**
     * Runs the expectation suite of `contract` on a table or a log range, in PostgreSQL (one
     * aggregate scan plus the queries referential integrity, drift and profiles need), inside one
     * READ ONLY REPEATABLE READ transaction, so every expectation sees the same snapshot. Writes
     * the JSON result and the HTML report to the artifact store and a row to sluice.validations;
     * returns their digests. It does not fail on failed expectations (the workflow decides);
     * idempotent apart from the evaluation time. Throws SLUICE_UNKNOWN_CONTRACT and
     * SLUICE_DATASET_NOT_FOUND (non-retryable).
     */
    async runExpectationSuite(input: RunExpectationSuiteInput): Promise<RunExpectationSuiteResult> {
      const contract = contractOf(input.contract, input.version);
      const ctx = Context.current();
      const info = ctx.info;
      let step = 'start';
      const heartbeat = (next: string): void => {
        step = next;
        ctx.heartbeat({ step });
      };
      // One query can run for minutes on a large dataset: keep heartbeating while it does.
      const beat = setInterval(() => ctx.heartbeat({ step }), 10_000);
      let run: SuiteRun;
      let datasetDescribe: string;
      let baselineDescribe: string | undefined;
      try {
        const { dataset, baseline } = input;
        if (dataset.kind === 'arrow') {
          if (baseline && baseline.kind !== 'arrow') throw new DatasetError('the baseline of an Arrow snapshot must be an Arrow snapshot too');
          const snapshot = await loadSnapshot(store, dataset.sha256);
          const base = baseline ? await loadSnapshot(store, baseline.sha256) : undefined;
          heartbeat('arrow');
          run = runSuiteOnArrow(contract, snapshot, { baseline: base, sampleSize: input.sampleSize, profile: input.profile });
          datasetDescribe = snapshot.describe;
          baselineDescribe = base?.describe;
        } else {
          if (baseline?.kind === 'arrow') throw new DatasetError('the baseline of a table or log range must be a table or log range too');
          ({ run, dataset: datasetDescribe, baseline: baselineDescribe } = await runSuiteOnDataset(deps.pool, contract, { ...input, dataset, baseline }, heartbeat, ctx.cancellationSignal));
        }
      } catch (err) {
        if (err instanceof DatasetError) throw ApplicationFailure.create({ type: ErrorCodes.DatasetNotFound, nonRetryable: true, message: err.message });
        throw err;
      } finally {
        clearInterval(beat);
      }

      const failed = run.results.filter((r) => !r.passed);
      const failedErrors = failed.filter((r) => r.severity === 'error').map((r) => r.name);
      const failedWarnings = failed.filter((r) => r.severity === 'warn').map((r) => r.name);
      const workflowId = info.workflowExecution?.workflowId ?? `activity:${info.activityId}`;
      const runId = info.workflowExecution?.runId ?? '';
      const report: ValidationReport = {
        contract: contract.contract,
        contractVersion: contract.version,
        dataset: datasetDescribe,
        ...(baselineDescribe ? { baseline: baselineDescribe } : {}),
        workflowId,
        runId,
        evaluatedAt: new Date().toISOString(),
        rowCount: run.rowCount,
        passed: failedErrors.length === 0,
        errors: failedErrors.length,
        warnings: failedWarnings.length,
        results: run.results,
        profiles: run.profiles,
      };
      heartbeat('report');
      const json = await store.put(`${canonicalJson(report)}\n`, { mediaType: 'application/json', extension: '.json' });
      const html = await store.put(renderHtmlReport(report), { mediaType: 'text/html', extension: '.html' });
      await deps.pool.query(
        `INSERT INTO sluice.validations (workflow_id, run_id, contract, contract_version, dataset, row_count, passed, errors, warnings, report_sha256, html_sha256)
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11
          WHERE NOT EXISTS (SELECT 1 FROM sluice.validations WHERE workflow_id = $1 AND run_id = $2 AND report_sha256 = $10)`,
        [workflowId, runId, contract.contract, contract.version, JSON.stringify(input.dataset), run.rowCount, report.passed, report.errors, report.warnings, json.sha256, html.sha256],
      );
      return {
        contract: contract.contract,
        contractVersion: contract.version,
        passed: report.passed,
        rowCount: run.rowCount,
        expectations: run.results.length,
        errors: report.errors,
        warnings: report.warnings,
        failedErrors,
        failedWarnings,
        reportSha256: json.sha256,
        reportUri: json.uri,
        htmlSha256: html.sha256,
        htmlUri: html.uri,
        runEventDetails: {
          contract: contract.contract,
          contractVersion: contract.version,
          dataset: input.dataset,
          report: { sha256: json.sha256, uri: json.uri },
          html: { sha256: html.sha256, uri: html.uri },
          failedErrors,
          failedWarnings,
        },
      };
    },
  };
}

export { runSuiteOnArrow, type ArrowDataset } from './arrow';
export { SUITE_SESSION_SETTINGS, SUITE_TRANSACTION, runSuiteOnDataset } from './postgres';
export type { DatasetRef } from './dataset';
export type { ColumnProfile, ExpectationResult, SuiteRun } from './results';
export type { ValidationReport } from './report';
