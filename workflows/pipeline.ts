/**
 * `pipeline`: one run of an applied pipeline spec (loaded by name and version, never carried in the
 * input), its steps in order as child workflows or activities: ingest (catch-up) → transform →
 * validate → snapshot → train (train, evaluate, register) → deploy. Steps pass references only:
 * log ranges, dataset ids, model versions. A failed or finished run waits for a `rerun` (signal, or
 * update with an answer) for a configurable time, then fails or completes; a rerun executes again
 * from its step and reuses what the steps before it produced.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  ChildWorkflowFailure,
  condition,
  executeChild,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { InputCheckActivities, PipelineActivities } from '../activities';
import { checkValue, describeIssues } from '../api/check';
import { ErrorCodes } from '../api/errors';
import { pipelineStatusQuery, rerunSignal, rerunUpdate } from '../api/messages';
import { DEFAULT_TASK_QUEUES } from '../api/queues';
import { SLUICE_STATUS, SluiceDataset, SluiceModel, SluicePipeline, SluiceStatus, SluiceStep } from '../api/searchAttributes';
import {
  PIPELINE_STEPS,
  RerunRequestSchema,
  type PipelineInput,
  type PipelineResult,
  type PipelineSpec,
  type PipelineStatus,
  type PipelineStepName,
  type PipelineStepOutput,
  type PipelineStepStatus,
  type RerunAnswer,
  type RerunRequest,
} from '../api/workflows/pipeline';
import { deployWorkflowId, type DeployInput } from '../api/workflows/deploy';
import type { SnapshotInput } from '../api/workflows/snapshot';
import type { TrainInput } from '../api/workflows/train';
import type { ValidateInput, ValidateResult } from '../api/workflows/validate';
import { ACTIVITY_OPTIONS, LOCAL_ACTIVITY_OPTIONS, LOCAL_QUICK_CALLS_PATCH } from './activityOptions';
import { deploy } from './deploy';
import { snapshot } from './snapshot';
import { snapshotInline, trainInline, validateInline, type InlineStep } from './pipelineInline';
import { train } from './train';
import { validate } from './validate';

export type { PipelineInput, PipelineResult, PipelineStatus };

/** Workflow time in ms: in the sandbox `Date` is the time of the current workflow task, the same on replay. */
/** Workflow time: deterministic in the sandbox (the time of the current workflow task). */
export const workflowTime = (): number => new Date().getTime();

/** Since this patch a transform step prepares and catches up in one activity (catchUpTransform), not two. */
export const TRANSFORM_ONE_ACTIVITY_PATCH = 'pipeline-transform-one-activity';

/** A failed run waits this long for a rerun before it fails, unless its input says otherwise. */
export const DEFAULT_RERUN_WINDOW_AFTER_FAILURE_SECONDS = 86_400;

const check = proxyActivities<InputCheckActivities>(ACTIVITY_OPTIONS.inputCheck);
const checkLocal = proxyLocalActivities<InputCheckActivities>(LOCAL_ACTIVITY_OPTIONS.inputCheck);
const linksLocal = proxyLocalActivities<PipelineActivities>(LOCAL_ACTIVITY_OPTIONS.linkArtifacts);
const quick = proxyActivities<PipelineActivities>(ACTIVITY_OPTIONS.dbQuick);
const waiting = proxyActivities<PipelineActivities>(ACTIVITY_OPTIONS.pipelineWait);

/** The steps a spec asks for, in order: ingest and transform always run (catch-up), the rest by section. */
export function stepsOfSpec(spec: PipelineSpec): PipelineStepName[] {
  return PIPELINE_STEPS.filter((s) => {
    switch (s) {
      case 'ingest':
        return true;
      case 'transform':
        return (spec.transforms ?? []).length > 0;
      case 'validate':
        return spec.validation !== undefined;
      case 'snapshot':
        return spec.dataset !== undefined;
      case 'train':
        return spec.train !== undefined;
      case 'deploy':
        return spec.deploy !== undefined;
    }
  });
}

/** What the `deploy` step hands the deploy workflow: references and the spec's policy, nothing else. */
export interface DeployStepArgs {
  model: string;
  candidateVersion: number;
  endpoint: string;
  policy: Record<string, unknown>;
}

/**
 * The `deploy` step: the child workflow `deploy` under the endpoint's own id (`deploy-<endpoint>`,
 * so a pipeline's deploy and any other change of the endpoint never run at once, and approvals
 * reach it by endpoint), with the trained model as the candidate and the spec's policy (checked by
 * the deploy workflow's input check). Its outcome (promoted, rejected, expired, rolled back) is the
 * step's output; only a failure fails the step.
 */
async function runDeployStep(
  args: DeployStepArgs,
  options: { taskQueue: string; typedSearchAttributes: { key: typeof SluicePipeline; value: string }[] },
  actor: string,
): Promise<PipelineStepOutput> {
  const input: DeployInput = {
    model: args.model,
    version: args.candidateVersion,
    endpoint: args.endpoint,
    policy: args.policy as DeployInput['policy'],
    actor,
  };
  const r = await executeChild(deploy, { ...options, workflowId: deployWorkflowId(args.endpoint), args: [input] });
  return { deployment: { endpoint: r.endpoint, model: r.model, version: r.version, status: r.status, championAfter: r.championAfter } };
}

function sha256In(uri: string): string | undefined {
  return /([0-9a-f]{64})/.exec(uri)?.[1];
}

/** The innermost failure of a step (a child's activity's ApplicationFailure), for the step's error and the run's failure. */
function rootCause(err: unknown): { type: string; message: string; details?: unknown } {
  let e: unknown = err;
  while ((e instanceof ChildWorkflowFailure || e instanceof ActivityFailure) && e.cause) e = e.cause;
  if (e instanceof ApplicationFailure)
    return { type: e.type ?? 'Error', message: e.message, ...(e.details?.length ? { details: e.details[0] } : {}) };
  return { type: (e as Error)?.name ?? 'Error', message: (e as Error)?.message ?? String(e) };
}

/**
 * Runs a pipeline spec version (see the module comment). Side effects: those of its steps (log
 * catch-up reads, transform registration, data docs, datasets, models) and a run event per rerun.
 * Workflow id `pipeline-<name>-<trigger key>`: one run per trigger. Errors: SLUICE_INVALID_INPUT,
 * SLUICE_UNKNOWN_PIPELINE, SLUICE_PIPELINE_STEP_FAILED (details: the step, its error, and for
 * validate the failed expectations), after the rerun window has passed.
 */
export async function pipeline(input: PipelineInput): Promise<PipelineResult> {
  const { workflowId } = workflowInfo();
  const status: PipelineStatus = {
    pipeline: input.pipeline,
    specVersion: input.specVersion,
    triggerKey: input.triggerKey,
    reason: input.reason,
    state: 'running',
    currentStep: null,
    steps: [],
    reruns: [],
    refusedReruns: [],
    rerunUntil: null,
  };
  let running = true;
  let pending: { req: RerunRequest; via: 'signal' | 'update' } | undefined;

  /** Why a rerun request cannot be taken now, or undefined. */
  const refusal = (req: RerunRequest): string | undefined => {
    const r = checkValue(RerunRequestSchema, req);
    if (!r.ok) return `invalid rerun request: ${describeIssues(r.issues)} (steps: ${PIPELINE_STEPS.join(', ')})`;
    const i = status.steps.findIndex((s) => s.step === req.fromStep);
    if (running || pending)
      return `a run is in progress${status.currentStep ? ` (step ${status.currentStep})` : ''}; rerun once it has failed or finished`;
    if (i < 0) return `unknown step ${req.fromStep}: this pipeline's steps are ${status.steps.map((s) => s.step).join(', ')}`;
    const before = status.steps.slice(0, i).find((s) => s.state !== 'completed');
    if (before) return `step ${req.fromStep} was not reached: step ${before.step} is ${before.state}, rerun from it instead`;
    return undefined;
  };
  // Handlers before the first await: a query or a rerun right after the start finds them.
  setHandler(pipelineStatusQuery, () => status);
  setHandler(
    rerunUpdate,
    (req): RerunAnswer => {
      pending = { req, via: 'update' };
      return { accepted: true, rerun: status.reruns.length + 1 };
    },
    {
      validator: (req) => {
        const why = refusal(req);
        if (why) throw new Error(why);
      },
    },
  );
  setHandler(rerunSignal, (req) => {
    // A signal has no caller to answer: a refused one is kept in the status and the memo.
    const why = refusal(req);
    if (why) {
      status.refusedReruns.push({
        fromStep: String((req as { fromStep?: unknown })?.fromStep),
        reason: String((req as { reason?: unknown })?.reason),
        why,
        at: new Date().toISOString(),
      });
      upsertMemo({ refusedReruns: status.refusedReruns });
      return;
    }
    pending = { req, via: 'signal' };
  });

  upsertSearchAttributes([
    { key: SluicePipeline, value: input.pipeline },
    { key: SluiceStep, value: 'load' },
    { key: SluiceStatus, value: SLUICE_STATUS.running },
  ]);
  // New runs make the input check and the artifact links local activities (no round trip each).
  const quickLocal = patched(LOCAL_QUICK_CALLS_PATCH);
  const linkArtifacts = (links: Record<string, string>): Promise<Record<string, string>> =>
    (quickLocal ? linksLocal : quick).linkArtifacts(links);
  let spec: PipelineSpec;
  try {
    await (quickLocal ? checkLocal : check).checkWorkflowInput('pipeline', input);
    spec = (await quick.loadPipelineSpec({ pipeline: input.pipeline, version: input.specVersion })).spec;
  } catch (err) {
    upsertSearchAttributes([{ key: SluiceStatus, value: SLUICE_STATUS.failed }]);
    throw err;
  }
  status.steps = stepsOfSpec(spec).map(
    (step): PipelineStepStatus => ({
      step,
      state: 'pending',
      attempt: 0,
      workflowId: null,
      startedAt: null,
      finishedAt: null,
      durationMs: null,
      counts: {},
      links: {},
      output: null,
      error: null,
    }),
  );
  upsertMemo({ pipeline: input.pipeline, specVersion: input.specVersion, triggerKey: input.triggerKey, reason: input.reason });

  const outputOf = (step: PipelineStepName): PipelineStepOutput => status.steps.find((s) => s.step === step)?.output ?? {};
  const queues = { cpu: input.queues?.cpu ?? workflowInfo().taskQueue, gpu: input.queues?.gpu ?? DEFAULT_TASK_QUEUES.gpu };
  const childOptions = (s: PipelineStepStatus) => ({
    workflowId: `${workflowId}/${s.step}/${s.attempt}`,
    taskQueue: queues.cpu,
    typedSearchAttributes: [{ key: SluicePipeline, value: input.pipeline }],
  });

  // `execution: inline`: validate, snapshot and train as activities of this workflow (workflows/pipelineInline.ts)
  const inline = spec.execution === 'inline';
  const inlineStep = (s: PipelineStepStatus): InlineStep => ({
    step: s.step as InlineStep['step'],
    attempt: s.attempt,
    cpuQueue: queues.cpu,
  });

  /** A validation with failed `error` expectations: recorded in the memo; it blocks the run unless the spec says not to. */
  function failedValidation(
    s: PipelineStepStatus,
    v: NonNullable<PipelineSpec['validation']>,
    validation: NonNullable<PipelineStepOutput['validation']>,
  ): PipelineStepOutput {
    upsertMemo({ failedExpectations: validation.failedErrors, dataDocs: s.links.dataDocs ?? null });
    if (v.blockOnError === false) return { validation };
    s.output = { validation };
    throw ApplicationFailure.create({
      type: ErrorCodes.ExpectationFailed,
      nonRetryable: true,
      message: `validation blocked the run before snapshot: ${validation.failedErrors.length} error expectation(s) of ${v.suite} failed: ${validation.failedErrors.join(', ')}`,
      details: [{ failedErrors: validation.failedErrors, failedWarnings: validation.failedWarnings, dataDocs: s.links.dataDocs ?? null }],
    });
  }

  async function execute(s: PipelineStepStatus): Promise<PipelineStepOutput> {
    switch (s.step) {
      case 'ingest': {
        const logRanges: NonNullable<PipelineStepOutput['logRanges']> = {};
        for (const src of spec.sources) {
          const r = await waiting.catchUpIngest({ source: src.source });
          logRanges[src.source] = r.fromSeq !== null && r.toSeq !== null ? { fromSeq: r.fromSeq, toSeq: r.toSeq } : null;
        }
        s.counts = { sources: spec.sources.length };
        return { logRanges };
      }
      case 'transform': {
        const ranges = outputOf('ingest').logRanges ?? {};
        const transforms: NonNullable<PipelineStepOutput['transforms']> = [];
        for (const t of spec.transforms ?? []) {
          const ends = (t.sources ?? spec.sources.map((x) => x.source)).map((src) => ranges[src]?.toSeq).filter((x): x is string => !!x);
          const untilSeq = ends.length ? ends.reduce((a, b) => (BigInt(a) > BigInt(b) ? a : b)) : null;
          const prepare = { pipeline: input.pipeline, specVersion: input.specVersion, transform: t.name };
          let r: { name: string; version: number; watermark: string };
          if (patched(TRANSFORM_ONE_ACTIVITY_PATCH)) {
            r = await waiting.catchUpTransform({ ...prepare, version: t.version, untilSeq });
          } else {
            await quick.prepareTransform(prepare);
            r = await waiting.awaitTransformCatchUp({ transform: t.name, version: t.version, untilSeq });
          }
          transforms.push({ name: r.name, version: r.version, watermark: r.watermark });
        }
        s.counts = { transforms: transforms.length };
        return { transforms };
      }
      case 'validate': {
        const v = spec.validation;
        if (!v) throw new Error('unreachable: no validation section');
        const ranges = outputOf('ingest').logRanges ?? {};
        let dataset: ValidateInput['dataset'];
        if (v.on && 'table' in v.on) dataset = { kind: 'table', table: v.on.table };
        else {
          const source = v.on && 'log' in v.on ? v.on.log : (spec.sources[0]?.source ?? '');
          const range = ranges[source];
          dataset = { kind: 'log', source, ...(range ? { fromSeq: range.fromSeq, toSeq: range.toSeq } : {}) };
        }
        const args: ValidateInput = {
          contract: v.suite,
          dataset,
          ...(v.version ? { version: v.version } : {}),
          ...(v.sampleSize === undefined ? {} : { sampleSize: v.sampleSize }),
        };
        const validationOf = (r: ValidateResult): NonNullable<PipelineStepOutput['validation']> => ({
          passed: r.passed,
          failedErrors: r.failedErrors,
          failedWarnings: r.failedWarnings,
          reportSha256: r.reportSha256,
          htmlSha256: r.htmlSha256,
        });
        const countsOf = (r: ValidateResult): Record<string, number> => ({
          rows: r.rowCount,
          expectations: r.expectations,
          errors: r.errors,
          warnings: r.warnings,
        });
        if (inline) {
          // failed `error` expectations come back in the result (the child workflow fails instead)
          const [r, links] = await validateInline(inlineStep(s), args);
          s.counts = countsOf(r);
          s.links = links;
          return r.failedErrors.length ? failedValidation(s, v, validationOf(r)) : { validation: validationOf(r) };
        }
        try {
          const r = await executeChild(validate, { ...childOptions(s), args: [args] });
          s.counts = countsOf(r);
          s.links = await linkArtifacts({ dataDocs: r.htmlSha256, report: r.reportSha256 });
          return { validation: validationOf(r) };
        } catch (err) {
          const cause = rootCause(err);
          if (cause.type !== ErrorCodes.ExpectationFailed) throw err;
          const d = (cause.details ?? {}) as { failedErrors?: string[]; failedWarnings?: string[]; reportUri?: string; htmlUri?: string };
          const htmlSha256 = sha256In(d.htmlUri ?? '') ?? '';
          const reportSha256 = sha256In(d.reportUri ?? '') ?? '';
          s.links = htmlSha256 ? await linkArtifacts({ dataDocs: htmlSha256, ...(reportSha256 ? { report: reportSha256 } : {}) }) : {};
          return failedValidation(s, v, {
            passed: false,
            failedErrors: d.failedErrors ?? [],
            failedWarnings: d.failedWarnings ?? [],
            reportSha256,
            htmlSha256,
          });
        }
      }
      case 'snapshot': {
        const d = spec.dataset;
        if (!d) throw new Error('unreachable: no dataset section');
        const t = (outputOf('transform').transforms ?? []).find((x) => x.name === d.transform);
        const version = t?.version ?? spec.transforms?.find((x) => x.name === d.transform)?.version;
        const args: SnapshotInput = {
          transform: d.transform,
          spec: d.spec,
          ...(version === undefined ? {} : { version }),
          // the rows the run caught up to: the same run gives the same dataset
          ...(t && t.watermark !== '0' ? { toSeq: t.watermark } : {}),
          ...(d.columns ? { columns: d.columns } : {}),
        };
        const [r, links] = inline
          ? await snapshotInline(inlineStep(s), args)
          : [await executeChild(snapshot, { ...childOptions(s), args: [args] }), undefined];
        s.counts = { rows: r.rowCount, train: r.splitCounts.train, validation: r.splitCounts.validation, test: r.splitCounts.test };
        s.links = links ?? (await linkArtifacts({ dataset: r.datasetId }));
        upsertSearchAttributes([{ key: SluiceDataset, value: r.datasetId.slice(0, 12) }]);
        return { datasetId: r.datasetId, rowCount: r.rowCount };
      }
      case 'train': {
        const tr = spec.train;
        const d = spec.dataset;
        const datasetId = outputOf('snapshot').datasetId;
        if (!tr || !d || !datasetId) throw new Error('unreachable: train without a dataset');
        const { split: _split, ...trainSpec } = d.spec;
        const args: TrainInput = {
          model: tr.model,
          datasetId,
          spec: trainSpec,
          trainer: tr.trainer,
          seed: tr.seed,
          queues,
          ...(tr.device ? { device: tr.device } : {}),
          ...(tr.checkpointEveryEpochs === undefined ? {} : { checkpointEveryEpochs: tr.checkpointEveryEpochs }),
          ...(tr.checkpointEverySeconds === undefined ? {} : { checkpointEverySeconds: tr.checkpointEverySeconds }),
          ...(tr.heartbeatSeconds === undefined ? {} : { heartbeatSeconds: tr.heartbeatSeconds }),
        };
        const [r, links] = inline
          ? await trainInline(inlineStep(s), args)
          : [await executeChild(train, { ...childOptions(s), args: [args] }), undefined];
        s.counts = { epochs: r.epochs, version: r.version };
        s.links = links ?? (await linkArtifacts({ modelCard: r.cardSha256, onnx: r.onnxSha256 }));
        upsertSearchAttributes([{ key: SluiceModel, value: `${r.model}@${r.version}` }]);
        return { model: { name: r.model, version: r.version, cardSha256: r.cardSha256, onnxSha256: r.onnxSha256 } };
      }
      case 'deploy': {
        const m = outputOf('train').model;
        const d = spec.deploy;
        if (!m || !d) throw new Error('unreachable: deploy without a model');
        return runDeployStep(
          { model: m.name, candidateVersion: m.version, endpoint: d.endpoint, policy: d.policy },
          childOptions(s),
          `pipeline ${input.pipeline} (${workflowId})`,
        );
      }
    }
  }

  const memoOfSteps = (): Record<string, unknown> => ({
    steps: Object.fromEntries(
      status.steps.map((s) => [s.step, { state: s.state, attempt: s.attempt, ...(s.error ? { error: s.error.message } : {}) }]),
    ),
    links: Object.fromEntries(status.steps.flatMap((s) => Object.entries(s.links))),
  });

  /** Runs the steps from `from` on; answers the failure of the first step that fails. */
  async function runFrom(from: number): Promise<ApplicationFailure | undefined> {
    for (const s of status.steps.slice(from)) {
      s.state = 'running';
      s.attempt += 1;
      s.workflowId =
        s.step === 'ingest' || s.step === 'transform' || (inline && s.step !== 'deploy')
          ? null
          : s.step === 'deploy' && spec.deploy
            ? deployWorkflowId(spec.deploy.endpoint)
            : `${workflowId}/${s.step}/${s.attempt}`;
      s.startedAt = new Date().toISOString();
      s.finishedAt = null;
      s.durationMs = null;
      s.error = null;
      s.output = null;
      s.links = {};
      s.counts = {};
      status.currentStep = s.step;
      upsertSearchAttributes([{ key: SluiceStep, value: s.step }]);
      const started = workflowTime();
      try {
        s.output = await execute(s);
        s.state = 'completed';
      } catch (err) {
        s.state = 'failed';
        s.error = rootCause(err);
        return ApplicationFailure.create({
          type: ErrorCodes.PipelineStepFailed,
          nonRetryable: true,
          message: `pipeline ${input.pipeline} step ${s.step} failed: ${s.error.message}`,
          details: [{ step: s.step, attempt: s.attempt, error: s.error, output: s.output }],
        });
      } finally {
        s.finishedAt = new Date().toISOString();
        s.durationMs = workflowTime() - started;
        upsertMemo(memoOfSteps());
      }
    }
    status.currentStep = null;
    return undefined;
  }

  let from = 0;
  for (;;) {
    running = true;
    status.state = 'running';
    upsertSearchAttributes([{ key: SluiceStatus, value: SLUICE_STATUS.running }]);
    const failure = await runFrom(from);
    running = false;
    const windowSeconds = failure
      ? (input.rerunWindowAfterFailureSeconds ?? DEFAULT_RERUN_WINDOW_AFTER_FAILURE_SECONDS)
      : (input.rerunWindowAfterSuccessSeconds ?? 0);
    // Failed is said before the run waits, and so before it fails.
    upsertSearchAttributes([{ key: SluiceStatus, value: failure ? SLUICE_STATUS.failed : SLUICE_STATUS.completed }]);
    status.state = failure ? 'failed' : windowSeconds > 0 ? 'waiting' : 'completed';
    if (windowSeconds > 0) {
      status.rerunUntil = new Date(workflowTime() + windowSeconds * 1000).toISOString();
      upsertMemo({ state: status.state, rerunUntil: status.rerunUntil });
      await condition(() => pending !== undefined, windowSeconds * 1000);
      status.rerunUntil = null;
      const taken = pending;
      if (taken) {
        // taken: from here on the run is in progress (a status read now must not see `waiting`)
        running = true;
        status.state = 'running';
        const i = status.steps.findIndex((s) => s.step === taken.req.fromStep);
        const rerun = status.reruns.length + 1;
        status.reruns.push({ fromStep: taken.req.fromStep, reason: taken.req.reason, at: new Date().toISOString(), via: taken.via });
        await quick.recordPipelineRerun({
          pipeline: input.pipeline,
          fromStep: taken.req.fromStep,
          reason: taken.req.reason,
          via: taken.via,
          rerun,
        });
        for (const s of status.steps.slice(i)) s.state = 'pending';
        upsertMemo({ reruns: status.reruns, state: 'running', rerunUntil: null });
        pending = undefined;
        from = i;
        continue;
      }
    }
    upsertMemo({ state: failure ? 'failed' : 'completed', rerunUntil: null });
    if (failure) throw failure;
    status.state = 'completed';
    return { pipeline: input.pipeline, specVersion: input.specVersion, steps: status.steps, reruns: status.reruns };
  }
}
