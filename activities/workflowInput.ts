import { ApplicationFailure } from '@temporalio/activity';
import { describeIssues, validateWorkflowInput } from '../contracts/workflowInputs';
import { ErrorCodes } from '../workflows/errors';

export function createWorkflowInputActivities() {
  return {
    /**
     * Checks a workflow's input against contracts/workflows/<type>.input.json. Throws a
     * non-retryable SLUICE_INVALID_INPUT failure that names each bad field. No side effects.
     */
    async checkWorkflowInput(workflowType: string, input: unknown): Promise<void> {
      const r = validateWorkflowInput(workflowType, input);
      if (!r.ok) {
        throw ApplicationFailure.create({
          type: ErrorCodes.InvalidInput,
          nonRetryable: true,
          message: `Invalid input for workflow ${workflowType}: ${describeIssues(r.issues)}`,
          details: [r.issues],
        });
      }
    },
  };
}
