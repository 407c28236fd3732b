/** The client's refusal of a workflow input, shared by the client and the schedules it declares. */
import { describeIssues, type InputIssue } from '../api/check';

/** A workflow input that breaks its declaration, caught before anything starts. */
export class InvalidWorkflowInputError extends Error {
  constructor(
    readonly workflowType: string,
    readonly issues: InputIssue[],
  ) {
    super(`Invalid input for workflow ${workflowType}: ${describeIssues(issues)}`);
    this.name = 'InvalidWorkflowInputError';
  }
}
