/** The validate step's activities: run a contract's expectation suite on a dataset and publish its report. */
import { Context } from '@temporalio/activity';
import { tableFromIPC } from 'apache-arrow';
import type { ValidateInput, ValidateResult } from '../../api/workflows/validate';
import { canonicalJson } from '../../contracts/canonical';
import { ContractRegistry, type Contract } from '../../contracts/registry';
import { ArtifactNotFoundError, type ArtifactStore } from '../artifacts';
import type { ActivityDeps } from '../deps';
import { withHeartbeat } from '../heartbeat';
import { runSuiteOnArrow, type ArrowDataset } from './arrow';
import { DatasetError } from './dataset';
import { runSuiteOnDataset } from './postgres';
import { renderHtmlReport, type ValidationReport } from './report';
import type { SuiteRun } from './results';

/** The activity's input is the workflow's input (api/workflows/validate.ts). */
export type RunExpectationSuiteInput = ValidateInput;

export interface RunExpectationSuiteResult extends ValidateResult {
  runEventDetails: Record<string, unknown>;
}

/**
 * What the validate activities need, built once by the worker and handed in: the pool, the artifact
 * store the reports go to (and Arrow snapshots come from), and the contract registry (default: the
 * contract files, read on first use).
 */
export type ValidateDeps = Pick<ActivityDeps, 'pool' | 'artifacts'> & Partial<Pick<ActivityDeps, 'contracts'>>;

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
  // An unknown contract or version is SLUICE_UNKNOWN_CONTRACT (activities/failures.ts).
  const contractOf = (name: string, version?: string): Contract => (registry ??= ContractRegistry.fromDirectory()).get(name, version);

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
      const info = Context.current().info;
      // One query can run for minutes on a large dataset: the helper keeps heartbeating the step while it does.
      const { run, datasetDescribe, baselineDescribe } = await withHeartbeat(
        async (hb) => {
          const heartbeat = (step: string): void => hb.progress({ step });
          const { dataset, baseline } = input;
          if (dataset.kind === 'arrow') {
            if (baseline && baseline.kind !== 'arrow')
              throw new DatasetError('the baseline of an Arrow snapshot must be an Arrow snapshot too');
            const snapshot = await loadSnapshot(store, dataset.sha256);
            const base = baseline ? await loadSnapshot(store, baseline.sha256) : undefined;
            heartbeat('arrow');
            const suite: SuiteRun = runSuiteOnArrow(contract, snapshot, {
              baseline: base,
              sampleSize: input.sampleSize,
              profile: input.profile,
            });
            return { run: suite, datasetDescribe: snapshot.describe, baselineDescribe: base?.describe };
          }
          if (baseline?.kind === 'arrow') throw new DatasetError('the baseline of a table or log range must be a table or log range too');
          const r = await runSuiteOnDataset(deps.pool, contract, { ...input, dataset, baseline }, heartbeat, hb.signal);
          return { run: r.run, datasetDescribe: r.dataset, baselineDescribe: r.baseline };
        },
        { everyMs: 10_000 },
      );

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
      const json = await store.put(`${canonicalJson(report)}\n`, { mediaType: 'application/json', extension: '.json' });
      const html = await store.put(renderHtmlReport(report), { mediaType: 'text/html', extension: '.html' });
      await deps.pool.query(
        `INSERT INTO sluice.validations (workflow_id, run_id, contract, contract_version, dataset, row_count, passed, errors, warnings, report_sha256, html_sha256)
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11
          WHERE NOT EXISTS (SELECT 1 FROM sluice.validations WHERE workflow_id = $1 AND run_id = $2 AND report_sha256 = $10)`,
        [
          workflowId,
          runId,
          contract.contract,
          contract.version,
          JSON.stringify(input.dataset),
          run.rowCount,
          report.passed,
          report.errors,
          report.warnings,
          json.sha256,
          html.sha256,
        ],
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
export { SUITE_TRANSACTION, runSuiteOnDataset } from './postgres';
export type { DatasetRef } from './dataset';
export type { ColumnProfile, ExpectationResult, SuiteRun } from './results';
export type { ValidationReport } from './report';
