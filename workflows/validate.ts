import { ApplicationFailure, proxyActivities, upsertMemo, upsertSearchAttributes } from '@temporalio/workflow';
import type { CpuActivities } from '../activities';
import type { RunExpectationSuiteInput, RunExpectationSuiteResult } from '../activities/validate';
import { ErrorCodes } from './errors';
import { SluiceStatus, SluiceStep } from './searchAttributes';

const CHECK = { startToCloseTimeout: '30 seconds', retry: { maximumAttempts: 1 } } as const;
/** A suite scans the whole dataset: long, but it heartbeats, so a dead worker is noticed quickly. */
const SUITE = {
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '2 seconds', maximumInterval: '1 minute', maximumAttempts: 5 },
} as const;

const check = proxyActivities<CpuActivities>(CHECK);
const quality = proxyActivities<CpuActivities>(SUITE);

/** The suite to run and on what: the same input as the `runExpectationSuite` activity. */
export type ValidateInput = RunExpectationSuiteInput;

export type ValidateResult = Omit<RunExpectationSuiteResult, 'runEventDetails'>;

/**
 * Runs a contract's expectation suite on a dataset (a table or a log range) and publishes its data
 * docs (JSON + HTML in the artifact store, linked from the memo and the run event). Failed `warn`
 * expectations are recorded and the workflow completes; failed `error` expectations fail it with a
 * non-retryable SLUICE_EXPECTATION_FAILED naming them, which blocks downstream steps. Read-only on
 * the data. Also throws SLUICE_INVALID_INPUT, SLUICE_UNKNOWN_CONTRACT, SLUICE_DATASET_NOT_FOUND.
 */
export async function validate(input: ValidateInput): Promise<ValidateResult> {
  await check.checkWorkflowInput('validate', input);
  upsertSearchAttributes([
    { key: SluiceStep, value: 'validate' },
    { key: SluiceStatus, value: 'running' },
  ]);
  const { runEventDetails: _details, ...result } = await quality.runExpectationSuite(input);
  upsertMemo({
    report: { uri: result.reportUri, sha256: result.reportSha256 },
    html: { uri: result.htmlUri, sha256: result.htmlSha256 },
    passed: result.passed,
  });
  if (result.failedErrors.length) {
    upsertSearchAttributes([{ key: SluiceStatus, value: 'failed' }]);
    throw ApplicationFailure.create({
      type: ErrorCodes.ExpectationFailed,
      nonRetryable: true,
      message: `${result.failedErrors.length} expectation(s) failed on ${result.contract}@${result.contractVersion}: ${result.failedErrors.join(', ')} (report: ${result.htmlUri})`,
      details: [{ failedErrors: result.failedErrors, failedWarnings: result.failedWarnings, reportUri: result.reportUri, htmlUri: result.htmlUri }],
    });
  }
  upsertSearchAttributes([{ key: SluiceStatus, value: 'completed' }]);
  return result;
}
