/**
 * `sluice pipelines …`: apply, list and show pipeline specs (PostgreSQL, DATABASE_URL), start a run,
 * read its status and rerun it from a step (Temporal, TEMPORAL_ADDRESS). Every read command takes
 * `--json`. Exit codes: 0 fine, 1 refused or invalid (a spec with issues, a refused rerun, an
 * unknown pipeline), 2 usage or setup error.
 */
import { applyPipelineSchedules, declaredScheduleIds } from './pipelineSchedules';
import type { ApplySchedulesResult } from './schedules';
import type { Pool } from 'pg';
import { pipelineWorkflowId } from '../api/ids';
import { PIPELINE_STEPS, type PipelineStatus, type PipelineStepName } from '../api/workflows/pipeline';
import type { TrainingProgress } from '../activities/train/activities';
import { applyPipelineSpec, getPipelineSpec, listPipelineSpecs } from '../activities/pipeline';
import { canonicalJson } from '../contracts/canonical';
import { formatSpecIssues, loadPipelineSpecFile } from '../contracts/pipelineSpec';
import { createPool } from '../db/pool';
import type { CliIo } from './contracts';
import { bar, progressLine } from './opsCli';
import { flag, withClient } from './cliArgs';

export class PipelinesUsageError extends Error {}

export const PIPELINES_USAGE = `  pipelines apply <file> [--by NAME] [--json]     check a spec (YAML, JSON, .ts) and register it as the next version (no-op when unchanged)
  pipelines list [--json]                          every pipeline's newest version
  pipelines show <name> [--version N] [--diff V1 V2] [--json]
                                                   a spec version, or what changed between two
  pipelines start <name> --key K [--reason R] [--version N] [--wait] [--json]
                                                   start a run (workflow id pipeline-<name>-<K>; one run per key); --wait: until
                                                   its steps are done (progress on a terminal: the step, training epochs)
  pipelines status <workflow id> | <name> --key K [--json]
                                                   each step's state, attempt, counts, durations and links
  pipelines rerun <workflow id> --from STEP --reason R [--json]
                                                   rerun from a step (answers accepted, or refused with why)
`;

function positional(args: string[]): string[] {
  const booleans = ['--json', '--wait'];
  return args.filter(
    (a, i) => !a.startsWith('--') && !(i > 0 && (args[i - 1] ?? '').startsWith('--') && !booleans.includes(args[i - 1] ?? '')),
  );
}

function intFlag(args: string[], name: string): number | undefined {
  const v = flag(args, name);
  if (v === undefined) return undefined;
  if (!/^[1-9][0-9]*$/.test(v)) throw new PipelinesUsageError(`${name} takes a positive integer, got "${v}"`);
  return Number(v);
}

async function withPool<T>(io: CliIo, fn: (pool: Pool) => Promise<T>): Promise<T> {
  const url = io.env.DATABASE_URL;
  if (!url) throw new PipelinesUsageError('DATABASE_URL is not set: pipeline specs are stored in the PostgreSQL that holds the sluice log');
  const pool = createPool(url, { max: 1, applicationName: 'sluice-cli' });
  try {
    return await fn(pool);
  } finally {
    await pool.end();
  }
}

/** Leaf-level differences of two JSON values, as JSON pointers. */
export function diffJson(a: unknown, b: unknown, at = ''): { path: string; from: unknown; to: unknown }[] {
  const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object';
  if (isObj(a) && isObj(b) && Array.isArray(a) === Array.isArray(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((k) => diffJson(a[k], b[k], `${at}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`));
  }
  return canonicalJson(a ?? null) === canonicalJson(b ?? null) && (a === undefined) === (b === undefined)
    ? []
    : [{ path: at, from: a, to: b }];
}

const show = (v: unknown): string => (v === undefined ? '(absent)' : JSON.stringify(v));

/** What `--wait` reads of a run: its status query, and the progress a step's child workflow heartbeats. */
export interface PipelineWatch {
  pipelineStatus(workflowId: string): Promise<PipelineStatus>;
  activityProgress<T>(workflowId: string): Promise<T | undefined>;
}

function isTrainingProgress(v: unknown): v is TrainingProgress {
  return v !== null && typeof v === 'object' && typeof (v as { epoch?: unknown }).epoch === 'number';
}

/** The progress line of a running pipeline: its step, and for `train` the epochs (from the training's heartbeat). */
export function pipelineProgressText(status: PipelineStatus, training: TrainingProgress | undefined): string {
  const step = status.currentStep ?? '';
  const head = `pipeline ${status.pipeline} v${status.specVersion}: ${step || status.state}`;
  if (step !== 'train' || !training) return head;
  const max = training.maxEpochs;
  const within = training.epochRows && training.epochRows.total > 0 ? training.epochRows.done / training.epochRows.total : 0;
  const epochs = max ? `${bar((training.epoch + within) / max)} epoch ${training.epoch}/${max}` : `epoch ${training.epoch}`;
  const loss = training.loss === undefined ? '' : `, loss ${training.loss.toPrecision(4)}`;
  const metric =
    training.validationMetric === undefined || training.validationMetricName === undefined
      ? ''
      : `, validation ${training.validationMetricName} ${training.validationMetric.toPrecision(4)}`;
  return `${head} ${epochs}${loss}${metric}`;
}

/**
 * Polls the run every `everyMs` until its steps are done (completed, failed, or waiting for
 * reruns), giving `onProgress` the progress line each time; returns the last status.
 */
export async function waitForPipeline(
  watch: PipelineWatch,
  workflowId: string,
  onProgress: (text: string) => void,
  options: { everyMs?: number; sleep?: (ms: number) => Promise<void> } = {},
): Promise<PipelineStatus> {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  for (;;) {
    const status = await watch.pipelineStatus(workflowId);
    if (status.state !== 'running') return status;
    const child = status.steps.find((st) => st.step === 'train' && st.state === 'running')?.workflowId;
    // The train child's pending activity: training's heartbeat has an epoch; before it (the input
    // check) and after it (evaluation, registration) there is none, and the step alone is shown.
    const details =
      status.currentStep === 'train' && child ? await watch.activityProgress<unknown>(child).catch(() => undefined) : undefined;
    onProgress(pipelineProgressText(status, isTrainingProgress(details) ? details : undefined));
    await sleep(options.everyMs ?? 500);
  }
}

/** `pipelines status`'s lines: the run, then each step. */
function statusLines(workflowId: string, s: PipelineStatus): string[] {
  return [
    `${workflowId}: ${s.state}${s.rerunUntil ? ` (takes reruns until ${s.rerunUntil})` : ''}; spec ${s.pipeline} v${s.specVersion}; ${s.reruns.length} rerun(s)`,
    ...s.steps.map(
      (st) =>
        `  ${st.step.padEnd(9)} ${st.state.padEnd(9)} attempt ${st.attempt}${st.durationMs === null ? '' : `  ${st.durationMs} ms`}${
          Object.keys(st.counts).length
            ? `  ${Object.entries(st.counts)
                .map(([k, v]) => `${k}=${v}`)
                .join(' ')}`
            : ''
        }${st.error ? `  error: ${st.error.message}` : ''}`,
    ),
    ...s.steps.flatMap((st) => Object.entries(st.links).map(([k, url]) => `  ${k}: ${url}`)),
  ];
}

export async function pipelinesCommand(args: string[], io: CliIo, isTty = false): Promise<number> {
  const [sub, ...rest] = args;
  const json = rest.includes('--json');
  const out = (value: unknown, text: string): void => io.out(json ? `${JSON.stringify(value, null, 2)}\n` : text);
  const pos = positional(rest);
  switch (sub) {
    case 'apply': {
      const file = pos[0];
      if (!file) throw new PipelinesUsageError('pipelines apply takes a spec file');
      const loaded = loadPipelineSpecFile(file);
      if (!loaded.ok) {
        if (json) io.out(`${JSON.stringify({ ok: false, issues: loaded.issues }, null, 2)}\n`);
        else io.err(`${formatSpecIssues(loaded.issues)}\n`);
        return 1;
      }
      const { applied, versions } = await withPool(io, async (pool) => {
        const applied = await applyPipelineSpec(pool, loaded.spec, flag(rest, '--by') ?? io.env.USER ?? 'sluice-cli');
        return { applied, versions: (await listPipelineSpecs(pool, loaded.spec.name)).map((v) => v.spec) };
      });
      let schedules: ApplySchedulesResult = { created: [], updated: [], unchanged: [], deleted: [] };
      // Temporal only when there are schedules to apply, or ones an earlier version declared to delete.
      if ((loaded.spec.schedules ?? []).length > 0 || declaredScheduleIds(versions).length > 0) {
        schedules = await withClient(io, (client) =>
          applyPipelineSchedules(client.temporal, loaded.spec, applied.version, client.taskQueue, versions),
        );
      }
      const scheduleLine =
        schedules.created.length + schedules.updated.length + schedules.unchanged.length + schedules.deleted.length === 0
          ? ''
          : `schedules: ${schedules.created.length} created, ${schedules.updated.length} updated, ${schedules.unchanged.length} unchanged, ${schedules.deleted.length} deleted\n` +
            schedules.deleted.map((id) => `  deleted ${id} (no longer in the spec)\n`).join('');
      out(
        { ...applied, schedules },
        (applied.created
          ? `applied ${applied.name} v${applied.version} (sha256 ${applied.sha256.slice(0, 12)})\n`
          : `unchanged: ${applied.name} v${applied.version} is this spec (sha256 ${applied.sha256.slice(0, 12)})\n`) + scheduleLine,
      );
      return 0;
    }
    case 'list': {
      const rows = await withPool(io, (pool) => listPipelineSpecs(pool));
      out(
        rows.map(({ spec: _spec, ...r }) => r),
        rows.length === 0
          ? 'no pipelines applied\n'
          : rows.map((r) => `${r.name}  v${r.version}  ${r.sha256.slice(0, 12)}  ${r.appliedBy}  ${r.appliedAt}\n`).join(''),
      );
      return 0;
    }
    case 'show': {
      const name = pos[0];
      if (!name) throw new PipelinesUsageError('pipelines show takes a pipeline name');
      const diffAt = rest.indexOf('--diff');
      if (diffAt >= 0) {
        const [v1, v2] = [rest[diffAt + 1], rest[diffAt + 2]].map((v) => Number(v));
        if (!Number.isInteger(v1) || !Number.isInteger(v2)) throw new PipelinesUsageError('--diff takes two versions: --diff 1 2');
        const [a, b] = await withPool(io, (pool) => Promise.all([getPipelineSpec(pool, name, v1), getPipelineSpec(pool, name, v2)]));
        const changes = diffJson(a.spec, b.spec);
        out(
          changes,
          changes.length === 0
            ? `${name} v${v1} and v${v2} are the same spec\n`
            : changes.map((c) => `${c.path}: ${show(c.from)} → ${show(c.to)}\n`).join(''),
        );
        return 0;
      }
      const row = await withPool(io, (pool) => getPipelineSpec(pool, name, intFlag(rest, '--version')));
      out(
        row,
        `# ${row.name} v${row.version}, sha256 ${row.sha256}, applied by ${row.appliedBy} at ${row.appliedAt}\n${JSON.stringify(row.spec, null, 2)}\n`,
      );
      return 0;
    }
    case 'start': {
      const name = pos[0];
      const key = flag(rest, '--key');
      if (!name || !key) throw new PipelinesUsageError('pipelines start takes a pipeline name and --key <trigger key>');
      const version = intFlag(rest, '--version');
      const wait = rest.includes('--wait');
      return withClient(io, async (c) => {
        const started = await c.startPipeline(name, {
          triggerKey: key,
          reason: flag(rest, '--reason') ?? 'started from the sluice CLI',
          ...(version ? { version } : {}),
        });
        const startedLine = `${started.started ? 'started' : 'already started (one run per trigger key)'}: ${started.workflowId} (spec v${started.specVersion}, run ${started.runId})\n`;
        if (!wait) {
          out(started, startedLine);
          return 0;
        }
        if (!json) io.out(startedLine);
        const progress = progressLine(isTty && !json, io.err);
        let final: PipelineStatus;
        try {
          final = await waitForPipeline(c, started.workflowId, (text) => progress.update(text));
        } finally {
          progress.done();
        }
        out({ ...started, status: final }, `${statusLines(started.workflowId, final).join('\n')}\n`);
        return final.state === 'failed' ? 1 : 0;
      });
    }
    case 'status': {
      const first = pos[0];
      if (!first) throw new PipelinesUsageError('pipelines status takes a workflow id, or a pipeline name and --key');
      const key = flag(rest, '--key');
      const workflowId = key ? pipelineWorkflowId(first, key) : first;
      const s = await withClient(io, (c) => c.pipelineStatus(workflowId));
      const lines = statusLines(workflowId, s);
      out(s, `${lines.join('\n')}\n`);
      return 0;
    }
    case 'rerun': {
      const workflowId = pos[0];
      const fromStep = flag(rest, '--from');
      const reason = flag(rest, '--reason');
      if (!workflowId || !fromStep || !reason)
        throw new PipelinesUsageError('pipelines rerun takes a workflow id, --from <step> and --reason <text>');
      if (!(PIPELINE_STEPS as readonly string[]).includes(fromStep))
        throw new PipelinesUsageError(`--from takes one of ${PIPELINE_STEPS.join(', ')}, got "${fromStep}"`);
      const answer = await withClient(io, (c) => c.rerun(workflowId, { fromStep: fromStep as PipelineStepName, reason }));
      out(answer, answer.accepted ? `accepted: rerun ${answer.rerun} of ${workflowId} from ${fromStep}\n` : `refused: ${answer.reason}\n`);
      return answer.accepted ? 0 : 1;
    }
    default:
      io.err(PIPELINES_USAGE);
      return 2;
  }
}
