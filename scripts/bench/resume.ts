/**
 * `resume_overhead` (suite `train-resume`): the wall time of a `train` workflow whose GPU worker
 * process is killed (SIGKILL) half-way and replaced by a new one, which resumes from the last
 * checkpoint, ÷ the same training uninterrupted. Both on a worker process of their own
 * (workers/gpu.ts), the workflow on a CPU worker in this process; the killed run includes the
 * restart of the worker and the heartbeat timeout after which Temporal retries the activity.
 *
 * The training is set up for a quick resume, as a user who cares about it would: a heartbeat timeout
 * of 3 s (the built-in trainers report every second, inside epochs too) and a checkpoint every epoch
 * and every second. The notes say where the seconds after the kill went (secondsAfterKill).
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { temporal } from '@temporalio/proto';
import { tableFromArrays, tableToIPC } from 'apache-arrow';
import { LocalArtifactStore } from '../../activities/artifacts';
import type { TrainingProgress } from '../../activities/train/activities';
import { makeClassification } from '../../activities/train';
import { workflows, type TrainInput } from '../../api';
import { SluiceClient } from '../../client';
import { pollUntil } from '../../client/poll';
import type { SluiceConfig } from '../../config';
import { createScratchDatabase } from '../../db/scratch';
import { createWorkerSet } from '../../workers/bootstrap';
import { startWorkerProcess, stopWorkerProcesses, type WorkerProcess } from '../workerProcess';
import { timed, type BenchContext, type BenchResult, type BenchSuite } from './harness';

const HEARTBEAT_SECONDS = 3;
const CHECKPOINT_EVERY_SECONDS = 1;

export async function benchResume(ctx: BenchContext): Promise<Pick<BenchResult, 'metrics' | 'ratios' | 'notes'>> {
  // About a minute of training here: a crash costs a fixed few seconds (the heartbeat timeout, the
  // retry's start, reading the snapshot and checkpoint again) plus the work since the last
  // checkpoint, so the ratio is only meaningful against a training of realistic length.
  const rows = Math.max(5_000, Math.round(300_000 * ctx.scale));
  const maxEpochs = 30;
  const artifactsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-resume-'));
  const db = await createScratchDatabase(ctx.stack.postgres.adminUrl ?? ctx.stack.postgres.url, {
    prefix: 'sluice_bench_resume',
    applicationName: 'sluice-bench-resume',
  });
  const queues = { cpu: `bench-resume-${randomBytes(3).toString('hex')}`, gpu: `bench-resume-gpu-${randomBytes(3).toString('hex')}` };
  const config: SluiceConfig = { ...ctx.config, taskQueues: queues, artifactsDir };
  const env = {
    ...process.env,
    DATABASE_URL: db.url,
    TEMPORAL_ADDRESS: ctx.stack.temporal.address,
    TEMPORAL_NAMESPACE: ctx.stack.temporal.namespace,
    SLUICE_TASK_QUEUE_CPU: queues.cpu,
    SLUICE_TASK_QUEUE_GPU: queues.gpu,
    SLUICE_ARTIFACTS: artifactsDir,
    SLUICE_SHUTDOWN_GRACE_SECONDS: '1',
  };
  const children: WorkerProcess[] = [];
  const startGpuWorker = async (): Promise<WorkerProcess> => {
    const w = startWorkerProcess('workers/gpu.ts', env);
    children.push(w);
    await w.ready;
    return w;
  };
  const workers = await createWorkerSet({ config, databaseUrl: db.url, queues: ['cpu'], migrate: false, log: () => undefined });
  const running = workers.run();
  const client = await SluiceClient.connect({ config, address: ctx.stack.temporal.address, namespace: ctx.stack.temporal.namespace });
  try {
    ctx.log(`dataset: ${rows.toLocaleString('en-US')} rows × 20 features`);
    const { x, y } = makeClassification({ rows, features: 20, informative: 10, classes: 3, seed: 5 });
    const columns: Record<string, unknown> = {
      __split: Int8Array.from({ length: rows }, (_, i) => (i % 10 < 8 ? 0 : i % 10 < 9 ? 1 : 2)),
      label: Int32Array.from(y),
    };
    const features = Array.from({ length: 20 }, (_, j) => `f${j}`);
    features.forEach((f, j) => (columns[f] = Float64Array.from({ length: rows }, (_, i) => x[i * 20 + j] as number)));
    const store = new LocalArtifactStore(artifactsDir);
    const datasetId = (
      await store.put(tableToIPC(tableFromArrays(columns as Parameters<typeof tableFromArrays>[0]), 'file'), {
        mediaType: 'application/vnd.apache.arrow.file',
      })
    ).sha256;
    await db.pool.query('INSERT INTO sluice.datasets (id, row_count, artifact_uri) VALUES ($1, $2, $3)', [
      datasetId,
      rows,
      `sha256:${datasetId}`,
    ]);
    const input = (model: string): TrainInput => ({
      model,
      datasetId,
      spec: { features: features.map((name) => ({ name, kind: 'numeric' as const })), label: 'label', task: 'multiclass' },
      trainer: { trainer: 'mlp', hiddenLayers: [64, 64], maxEpochs, patience: 1000, batchSize: 64 },
      seed: 9,
      checkpointEveryEpochs: 1,
      checkpointEverySeconds: CHECKPOINT_EVERY_SECONDS,
      heartbeatSeconds: HEARTBEAT_SECONDS,
      queues,
    });

    ctx.log('uninterrupted training');
    const first = await startGpuWorker();
    const [straight, straightS] = await timed(() =>
      client.execute(workflows.train, input('resume_straight'), { workflowId: `bench-resume-straight-${queues.cpu}` }),
    );
    await stopWorkerProcesses([first]);

    ctx.log(`training killed after epoch ${maxEpochs / 2} and resumed by a new worker`);
    const timeline: Record<string, number> = {};
    const second = await startGpuWorker();
    const [resumed, resumedS] = await timed(async () => {
      const handle = await client.start(workflows.train, input('resume_killed'), { workflowId: `bench-resume-killed-${queues.cpu}` });
      await pollUntil(
        'half of the epochs',
        async () => {
          const progress = await client.activityProgress<TrainingProgress>(handle.workflowId);
          return (progress?.epoch ?? 0) >= maxEpochs / 2 ? true : undefined;
        },
        { timeoutMs: 600_000, intervalMs: 100 },
      );
      const killedAt = Date.now();
      second.child.kill('SIGKILL');
      const watching = watchRetry(client, handle.workflowId, killedAt);
      await second.exit;
      const replacement = await startGpuWorker();
      timeline.replacement_worker_ready = (Date.now() - killedAt) / 1000;
      const result = await handle.result();
      Object.assign(timeline, await watching, resumeTimes(replacement.output(), killedAt));
      return result;
    });
    if (resumed.onnxSha256 !== straight.onnxSha256)
      throw new Error('the resumed training stored other model bytes than the uninterrupted one');
    ctx.log(
      `straight ${straightS.toFixed(1)} s, killed and resumed ${resumedS.toFixed(1)} s (resumed from epoch ${resumed.resumedFromEpoch})`,
    );
    ctx.log(`seconds after the kill: ${JSON.stringify(timeline)}`);
    return {
      metrics: {
        train_uninterrupted_s: { value: straightS, unit: 's' },
        train_killed_and_resumed_s: { value: resumedS, unit: 's' },
        resumed_from_epoch: { value: resumed.resumedFromEpoch, unit: 'epoch' },
      },
      ratios: { resume_overhead: resumedS / straightS },
      notes: {
        rows,
        maxEpochs,
        heartbeatSeconds: HEARTBEAT_SECONDS,
        checkpointEveryEpochs: 1,
        checkpointEverySeconds: CHECKPOINT_EVERY_SECONDS,
        sameModelBytes: true,
        secondsAfterKill: timeline,
      },
    };
  } finally {
    await stopWorkerProcesses(children);
    await client.close();
    workers.shutdown();
    await running;
    await db.drop();
    fs.rmSync(artifactsDir, { recursive: true, force: true });
  }
}

/**
 * Where the seconds after the kill go, from the server's view of the pending activity (polled):
 * its last heartbeat before the kill, when the retry was scheduled (the heartbeat timeout noticed)
 * and when the new attempt started.
 */
async function watchRetry(client: SluiceClient, workflowId: string, killedAt: number): Promise<Record<string, number>> {
  const seconds = (t: unknown): number | undefined => {
    const ms =
      t && typeof t === 'object' && 'seconds' in t
        ? Number((t as { seconds: unknown }).seconds) * 1000 + Number((t as { nanos?: number }).nanos ?? 0) / 1e6
        : undefined;
    return ms === undefined ? undefined : (ms - killedAt) / 1000;
  };
  const out: Record<string, number> = {};
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const activity = (await client.temporal.workflow.getHandle(workflowId).describe()).raw.pendingActivities?.[0];
    if (!activity) break;
    if ((activity.attempt ?? 1) === 1) {
      const hb = seconds(activity.lastHeartbeatTime);
      if (hb !== undefined) out.last_heartbeat_before_kill = hb;
    } else {
      const retry = seconds(activity.lastFailure ? activity.scheduledTime : undefined);
      if (retry !== undefined && out.retry_scheduled_for === undefined) out.retry_scheduled_for = retry;
      const started = seconds(activity.lastStartedTime);
      if (
        activity.state === temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED &&
        started !== undefined &&
        started > 0
      ) {
        out.retry_started = started;
        break;
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return out;
}

/** The replacement worker's own log: when the resumed attempt had read its data and checkpoint. */
function resumeTimes(output: string, killedAt: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of output.split('\n')) {
    if (!line.includes('training resumes from the checkpoint')) continue;
    try {
      const parsed = JSON.parse(line) as { time: string };
      out.checkpoint_restored = (Date.parse(parsed.time) - killedAt) / 1000;
    } catch {
      // not a JSON line: no time to read
    }
  }
  return out;
}

export const trainResumeSuite: BenchSuite = {
  name: 'train-resume',
  description: 'resume_overhead: training killed half-way (SIGKILL of the GPU worker) and resumed ÷ the same training uninterrupted',
  run: benchResume,
};
