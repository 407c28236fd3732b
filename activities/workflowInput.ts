import { checkWorkflowInput, describeIssues } from '../api/check';
import { ErrorCodes } from '../api/errors';
import { workflows, type WorkflowName } from '../api/workflows';
import { SluiceError } from './failures';

export function createWorkflowInputActivities() {
  return {
    /**
     * The first step of every public workflow: checks its input against the workflow's declaration
     * in api/workflows (the same check the client makes, and the schema other languages get in
     * contracts/workflows). Throws a non-retryable SLUICE_INVALID_INPUT that names each bad field
     * (details: the issues). No side effects.
     */
    async checkWorkflowInput(workflowType: string, input: unknown): Promise<void> {
      const def = Object.hasOwn(workflows, workflowType) ? workflows[workflowType as WorkflowName] : undefined;
      if (!def) throw new SluiceError(ErrorCodes.InvalidInput, `No input declaration for workflow ${workflowType} in api/workflows`);
      const r = checkWorkflowInput(def, input);
      if (!r.ok) {
        throw new SluiceError(ErrorCodes.InvalidInput, `Invalid input for workflow ${workflowType}: ${describeIssues(r.issues)}`, {
          details: r.issues,
        });
      }
    },
  };
}

export type InputCheckActivities = ReturnType<typeof createWorkflowInputActivities>;
