/**
 * The validate, snapshot and train steps of a pipeline whose spec says `execution: inline`: the
 * stand-alone workflows' activities, with the same inputs and options, run in the pipeline's own
 * history instead of in a child workflow each. A step costs one server round trip per activity
 * (a child workflow costs its start, its own workflow tasks and the parent's), and answers the
 * browser links of what it produced with its result. What the child workflow's first activity
 * checks (the step's input against its declaration) is checked here, before the step's first
 * activity is scheduled. Activity ids say which execution of which step ran them:
 * `<step>/<attempt>/<activity>` (e.g. `train/2/trainModel`), in the history and the UI.
 */
import { ApplicationFailure, proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { EvaluateActivities, InlineStepActivities, TrainActivities } from '../activities';
import { checkWorkflowInput, describeIssues } from '../api/check';
import { ErrorCodes } from '../api/errors';
import type { WorkflowDef } from '../api/workflows/define';
import { snapshot as snapshotDef, type SnapshotInput, type SnapshotResult } from '../api/workflows/snapshot';
import { train as trainDef, type TrainInput, type TrainResult } from '../api/workflows/train';
import { validate as validateDef, type ValidateInput, type ValidateResult } from '../api/workflows/validate';
import { ACTIVITY_OPTIONS } from './activityOptions';
import { evaluateModelArgs, registerModelArgs, trainModelArgs, trainModelOptions, trainResult } from './train';

/** Which execution of which step, and the CPU queue its activities run on (the child workflow's queue). */
export interface InlineStep {
  step: 'validate' | 'snapshot' | 'train';
  attempt: number;
  cpuQueue: string;
}

type Links = Record<string, string>;

function checkStepInput(def: WorkflowDef, at: InlineStep, input: unknown): void {
  const r = checkWorkflowInput(def, input);
  if (!r.ok)
    throw ApplicationFailure.create({
      type: ErrorCodes.InvalidInput,
      nonRetryable: true,
      message: `Invalid input for step ${at.step}: ${describeIssues(r.issues)}`,
      details: [r.issues],
    });
}

function activities<T>(at: InlineStep, name: string, options: ActivityOptions): T {
  return proxyActivities<Record<string, unknown>>({
    taskQueue: at.cpuQueue,
    ...options,
    activityId: `${at.step}/${at.attempt}/${name}`,
  }) as T;
}

/** The expectation suite on the dataset; failed `error` expectations are in the result (the caller decides what they block). */
export async function validateInline(at: InlineStep, input: ValidateInput): Promise<[ValidateResult, Links]> {
  checkStepInput(validateDef, at, input);
  const { pipelineValidate } = activities<InlineStepActivities>(at, 'pipelineValidate', ACTIVITY_OPTIONS.suite);
  const { runEventDetails: _details, links, ...r } = await pipelineValidate(input);
  return [r, links];
}

export async function snapshotInline(at: InlineStep, input: SnapshotInput): Promise<[SnapshotResult, Links]> {
  checkStepInput(snapshotDef, at, input);
  const { pipelineSnapshot } = activities<InlineStepActivities>(at, 'pipelineSnapshot', ACTIVITY_OPTIONS.snapshot);
  const { runEventDetails: _details, links, ...r } = await pipelineSnapshot(input);
  return [r, links];
}

/** Train (on the GPU queue unless `device: cpu`), evaluate, register: the `train` workflow's three activities. */
export async function trainInline(at: InlineStep, input: TrainInput): Promise<[TrainResult, Links]> {
  checkStepInput(trainDef, at, input);
  const { trainModel } = activities<TrainActivities>(at, 'trainModel', trainModelOptions(input));
  const r = await trainModel(trainModelArgs(input));
  const { evaluateModel } = activities<EvaluateActivities>(at, 'evaluateModel', ACTIVITY_OPTIONS.evaluate);
  const { runEventDetails: _details, ...evaluation } = await evaluateModel(evaluateModelArgs(input, r));
  const { pipelineRegisterModel } = activities<InlineStepActivities>(at, 'registerModel', ACTIVITY_OPTIONS.dbQuick);
  const registered = await pipelineRegisterModel(registerModelArgs(input, r, evaluation));
  return [trainResult(input, r, evaluation, registered.version), registered.links];
}
