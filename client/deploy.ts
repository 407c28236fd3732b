/**
 * Deployments from the client: start a `deploy` under `deploy-<endpoint>` with its conflict policy,
 * approve or reject it, roll an endpoint back, read a deployment's state. Refusals arrive as
 * {@link DeployRefusedError} with an error code of api/errors.ts.
 */
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
  type WorkflowHandle,
  type WorkflowHandleWithFirstExecutionRunId,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorCodes, type ErrorCode } from '../api/errors';
import { approveUpdate, deploymentStatusQuery, rejectUpdate, rollbackUpdate } from '../api/messages';
import { SluiceStatus } from '../api/searchAttributes';
import {
  deployWorkflowId,
  type ApprovalDecision,
  type ApprovalRequest,
  type DeployInput,
  type DeploymentState,
  type DeployResult,
  type RollbackRequest,
  type RollbackResult,
} from '../api/workflows/deploy';
import type { WorkflowFn } from '../api/workflows/define';
import type { workflows } from '../api/workflows';

/** A deployment request the server or the workflow refused (a conflict, nothing pending, no previous champion…). */
export class DeployRefusedError extends Error {
  constructor(
    readonly type: ErrorCode | string,
    message: string,
  ) {
    super(message);
    this.name = 'DeployRefusedError';
  }
}

export type DeployHandle = WorkflowHandleWithFirstExecutionRunId<WorkflowFn<typeof workflows.deploy>>;

export interface DeploymentStatus {
  workflowId: string;
  runId: string;
  workflowType: string;
  running: boolean;
  /** SluiceStatus: running, awaiting-approval, promoted, rejected, expired, rolled-back, failed. */
  status: string | undefined;
  /** The live state of a running deploy (its status query). */
  state?: DeploymentState;
  /** The result of an ended one. */
  result?: DeployResult | RollbackResult;
}

/** The ApplicationFailure behind a failed update or workflow, as a {@link DeployRefusedError}; other errors as they are. */
function refusal(err: unknown): unknown {
  // a workflow's failure wraps the activity's (WorkflowFailedError → ActivityFailure → ApplicationFailure)
  let cause: unknown = err instanceof WorkflowUpdateFailedError ? err.cause : (err as { cause?: unknown })?.cause;
  for (let depth = 0; depth < 4 && cause instanceof Error && !(cause instanceof ApplicationFailure); depth++) cause = cause.cause;
  if (cause instanceof ApplicationFailure && cause.type) return new DeployRefusedError(cause.type, cause.message);
  return err;
}

export async function startDeploy(
  client: Client,
  input: DeployInput,
  options: { taskQueue: string; workflowId?: string; waitTimeoutMs?: number },
): Promise<DeployHandle> {
  const workflowId = options.workflowId ?? deployWorkflowId(input.endpoint);
  const deadline = Date.now() + (options.waitTimeoutMs ?? 24 * 3600_000);
  for (;;) {
    try {
      return await client.workflow.start<WorkflowFn<typeof workflows.deploy>>('deploy', {
        taskQueue: options.taskQueue,
        workflowId,
        args: [input],
        workflowIdConflictPolicy: 'FAIL',
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      const running = client.workflow.getHandle(workflowId);
      const d = await running.describe().catch(() => undefined);
      const what = d ? `${d.type} (${String(d.typedSearchAttributes.get(SluiceStatus) ?? d.status.name)})` : 'a change';
      if (input.policy.onConflict === 'refuse' || Date.now() >= deadline)
        throw new DeployRefusedError(
          ErrorCodes.DeployConflict,
          `endpoint ${input.endpoint} has ${what} running as workflow ${workflowId}; ` +
            (input.policy.onConflict === 'refuse'
              ? "the policy says onConflict: 'refuse' (use 'wait' to queue behind it)"
              : 'it did not end in time'),
        );
      // wait for it to end, whatever its outcome, then try again (another waiter may get in first)
      await running.result().catch(() => undefined);
    }
  }
}

async function decide(
  client: Client,
  endpoint: string,
  update: typeof approveUpdate,
  req: ApprovalRequest,
  what: string,
): Promise<ApprovalDecision> {
  const handle = client.workflow.getHandle(deployWorkflowId(endpoint));
  try {
    return await handle.executeUpdate(update, { args: [req] });
  } catch (err) {
    const r = refusal(err);
    if (r instanceof DeployRefusedError) throw r;
    if (err instanceof WorkflowNotFoundError) {
      const d = await handle.describe().catch(() => undefined);
      throw new DeployRefusedError(
        ErrorCodes.DeployNotPending,
        d
          ? `the deployment of endpoint ${endpoint} is not awaiting ${what}: it has ended (${String(d.typedSearchAttributes.get(SluiceStatus) ?? d.status.name)})`
          : `no deployment of endpoint ${endpoint} exists`,
      );
    }
    throw err;
  }
}

export const approveDeployment = (client: Client, endpoint: string, req: ApprovalRequest): Promise<ApprovalDecision> =>
  decide(client, endpoint, approveUpdate, req, 'approval');
export const rejectDeployment = (client: Client, endpoint: string, req: ApprovalRequest): Promise<ApprovalDecision> =>
  decide(client, endpoint, rejectUpdate, req, 'approval');

/**
 * Rolls the endpoint back: through the running deploy's `rollback` update when it is in its
 * watch period, otherwise by a `rollback` workflow under the same id (so it never runs beside a
 * deploy of the endpoint). A deploy that is still gating, waiting or shadowing is a conflict.
 */
export async function rollbackDeployment(
  client: Client,
  endpoint: string,
  req: RollbackRequest,
  options: { taskQueue: string },
): Promise<RollbackResult> {
  const workflowId = deployWorkflowId(endpoint);
  const running = client.workflow.getHandle(workflowId);
  const d = await running.describe().catch((err: unknown) => {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  });
  if (d?.status.name === 'RUNNING') {
    if (d.type !== 'deploy') throw new DeployRefusedError(ErrorCodes.DeployConflict, `a ${d.type} of endpoint ${endpoint} is running`);
    try {
      return await running.executeUpdate(rollbackUpdate, { args: [req] });
    } catch (err) {
      const r = refusal(err);
      if (r instanceof DeployRefusedError && r.type === ErrorCodes.DeployNotPending)
        throw new DeployRefusedError(ErrorCodes.DeployConflict, `${r.message} (a deploy of endpoint ${endpoint} is running)`);
      throw r;
    }
  }
  let handle: WorkflowHandle<WorkflowFn<typeof workflows.rollback>>;
  try {
    handle = await client.workflow.start<WorkflowFn<typeof workflows.rollback>>('rollback', {
      taskQueue: options.taskQueue,
      workflowId,
      args: [{ endpoint, actor: req.who, ...(req.reason ? { reason: req.reason } : {}) }],
      workflowIdConflictPolicy: 'FAIL',
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError)
      throw new DeployRefusedError(ErrorCodes.DeployConflict, `a change of endpoint ${endpoint} started meanwhile; try again`);
    throw err;
  }
  try {
    return await handle.result();
  } catch (err) {
    throw refusal(err);
  }
}

/** The state of the endpoint's latest deploy or rollback: live while it runs, its result once ended. */
export async function deploymentStatus(client: Client, endpoint: string): Promise<DeploymentStatus> {
  const handle = client.workflow.getHandle(deployWorkflowId(endpoint));
  const d = await handle.describe();
  const base = {
    workflowId: d.workflowId,
    runId: d.runId,
    workflowType: d.type,
    running: d.status.name === 'RUNNING',
    status: d.typedSearchAttributes.get(SluiceStatus),
  };
  if (base.running && d.type === 'deploy') return { ...base, state: await handle.query(deploymentStatusQuery) };
  if (d.status.name === 'COMPLETED') return { ...base, result: (await handle.result()) as DeployResult | RollbackResult };
  return base;
}
