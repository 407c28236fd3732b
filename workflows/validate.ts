import {
  ApplicationFailure,
  patched,
  proxyActivities,
  proxyLocalActivities,
  upsertMemo,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { InputCheckActivities, ValidateActivities } from '../activities';
import { ErrorCodes } from '../api/errors';
import { SluiceDataset, SluicePipeline, SluiceStatus, SluiceStep } from '../api/searchAttributes';
import type { DatasetRef, ValidateInput, ValidateResult } from '../api/workflows/validate';
import { ACTIVITY_OPTIONS, LOCAL_ACTIVITY_OPTIONS, LOCAL_QUICK_CALLS_PATCH } from './activityOptions';
import { pipelineOf, sluiceStatusPatched, withSluiceStatus } from './status';

export type { ValidateInput, ValidateResult };

const check = proxyActivities<InputCheckActivities>(ACTIVITY_OPTIONS.inputCheck);
const checkLocal = proxyLocalActivities<InputCheckActivities>(LOCAL_ACTIVITY_OPTIONS.inputCheck);
const quality = proxyActivities<ValidateActivities>(ACTIVITY_OPTIONS.suite);

/**
 * Runs a contract's expectation suite on a dataset (a table or a log range) and publishes its data
 * docs (JSON + HTML in the artifact store, linked from the memo and the run event). Failed `warn`
 * expectations are recorded and the workflow completes; failed `error` expectations fail it with a
 * non-retryable SLUICE_EXPECTATION_FAILED naming them, which blocks downstream steps. Read-only on
 * the data. Also throws SLUICE_INVALID_INPUT, SLUICE_UNKNOWN_CONTRACT, SLUICE_DATASET_NOT_FOUND.
 */
export async function validate(input: ValidateInput): Promise<ValidateResult> {
  const statusPatched = sluiceStatusPatched();
  return withSluiceStatus(statusPatched, () => validateBody(input, statusPatched));
}

/** SluiceDataset of a validated dataset: the table, the source's log, or the snapshot's first 12 hex digits. */
function datasetName(d: DatasetRef): string {
  switch (d.kind) {
    case 'table':
      return d.table;
    case 'log':
      return `log:${d.source}`;
    case 'arrow':
      return d.sha256.slice(0, 12);
  }
}

async function validateBody(input: ValidateInput, statusPatched: boolean): Promise<ValidateResult> {
  await (patched(LOCAL_QUICK_CALLS_PATCH) ? checkLocal : check).checkWorkflowInput('validate', input);
  upsertSearchAttributes([
    // since the patch a pipeline filter finds validations too (a pipeline's own, or the contract's)
    ...(statusPatched
      ? [
          { key: SluicePipeline, value: pipelineOf(input.contract) },
          { key: SluiceDataset, value: datasetName(input.dataset) },
        ]
      : []),
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
      details: [
        { failedErrors: result.failedErrors, failedWarnings: result.failedWarnings, reportUri: result.reportUri, htmlUri: result.htmlUri },
      ],
    });
  }
  upsertSearchAttributes([{ key: SluiceStatus, value: 'completed' }]);
  return result;
}
