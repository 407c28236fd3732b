/**
 * Bring your own trainer: the `command` trainer runs an executable (a PyTorch script, say) on a
 * snapshot's training and validation rows and accepts the ONNX model it writes only after checking
 * it. What the executable gets (activities/train/README.md, "Command trainers"):
 *  - a working directory with the rows as float32 .npy matrices per split (no Arrow reader needed),
 *    the Arrow file itself, and `manifest.json` (features, vocabularies, classes, the
 *    standardisation fitted on the training rows, split sizes, seed, params, output path, device);
 *  - arguments `--manifest <path> --output <path> --seed <n>` after its own, and the environment
 *    SLUICE_MANIFEST, SLUICE_OUTPUT, SLUICE_DEVICE_INDEX and CUDA_VISIBLE_DEVICES (its one GPU, or
 *    '' on a worker without one). The worker's connection secrets are not passed on.
 * It prints one JSON object per line on stdout ({"epoch":3,"loss":0.41,"valMetric":0.88}); each
 * becomes a heartbeat. Other lines are logged and counted, never fatal. It runs in a process group
 * of its own, killed whole on timeout or cancellation, and after it exits (no orphans).
 *
 * Checkpoints (optional): the trainer may write a checkpoint file into SLUICE_CHECKPOINT_DIR (whole,
 * under a new name each time, e.g. by rename) and then name it in a progress line
 * ({"epoch":5,...,"checkpoint":"epoch-5.pt"}). sluice copies the file into the artifact store and
 * heartbeats its sha256 with the epoch. A retry of the activity (the worker died) restores the last
 * stored checkpoint into the new directory and passes its path as SLUICE_RESUME_FROM (and
 * `manifest.resume`), so the trainer goes on from there instead of starting again. The retry also
 * kills the previous attempt's process group when it runs on the same host and is still alive (a
 * worker killed with SIGKILL cannot take its trainer with it).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { existsSync, readFileSync } from 'node:fs';
import type { InferenceSession } from 'onnxruntime-node';
import { Tensor } from 'onnxruntime-node';
import { ErrorCodes } from '../../api/errors';
import type { SluiceConfig } from '../../config';
import type { ArtifactStore } from '../artifacts';
import type { ActivityLogger } from '../deps';
import { openInferenceSession, type CreateSession } from '../evaluate/scoring';
import { SluiceError } from '../failures';
import type { Heartbeat } from '../heartbeat';
import { readVerifiedArtifact } from '../verifiedArtifact';
import { NUMERIC_INPUT, OnnxFormatError, readOnnxMetadata, withSluiceMetadata } from '../onnx';
import { npyHeader } from '../snapshot/npy';
import type { TrainingRows } from './arrowData';
import { encodeLabels, type ClassLabel, type DatasetSpec } from './data';
import type { DeviceSlot } from './deviceSlots';
import { fitPreprocessing, type CategoricalEncoding, type NumericScaling } from './preprocessing';

/** The `command` trainer's parameters (api/workflows/train.ts declares them for the workflow input). */
export interface CommandTrainerParams {
  trainer: 'command';
  /** Executable and its arguments; a first word `python3` or `python` stands for the worker's interpreter (SLUICE_PYTHON). */
  command: string[];
  /** Passed to the executable in the manifest, as given. */
  params?: Record<string, unknown>;
  /** Kill the executable's process group after this long (default 3600). */
  timeoutSeconds?: number;
}

export const MANIFEST_FORMAT = 'sluice.command-trainer/1';
const DEFAULT_TIMEOUT_SECONDS = 3600;
/** After SIGTERM, the group has this long to exit before SIGKILL. */
const KILL_GRACE_MS = 2_000;
/** Rows of the validation split the accepted model is run on. */
const CHECK_ROWS = 16;
const STDERR_TAIL_LINES = 20;
/** The per-run working directory (in the OS temp dir) holding the manifest, matrices and checkpoints. */
const WORK_DIR_PREFIX = 'sluice-command-trainer-';

/** Environment variables a trainer must not see: the worker's connections and their secrets. */
const WITHHELD_ENV = /^(DATABASE_URL|PG[A-Z_]*|TEMPORAL_[A-Z_]*|SLUICE_HTTP_TOKEN|AWS_[A-Z_]*)$/;

export interface CommandProgress {
  trainer: 'command';
  epoch: number;
  loss?: number;
  validationMetric?: number;
  validationMetricName?: string;
  device?: string;
  /** The latest checkpoint the trainer announced, once it is in the artifact store. */
  checkpoint?: CommandCheckpoint;
  /** The running process group, so that a retry can stop it when the worker died without doing so. */
  process?: { host: string; pid: number; manifest: string };
}

/** A checkpoint of a command trainer in the artifact store: its file name in the checkpoint directory and epoch. */
export interface CommandCheckpoint {
  sha256: string;
  epoch: number;
  file: string;
}

/** A checkpoint file name as the trainer may announce it: a plain name inside SLUICE_CHECKPOINT_DIR. */
const CHECKPOINT_FILE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export interface CommandTrainingResult {
  onnx: Uint8Array;
  classes: ClassLabel[] | null;
  epochs: number;
  finalLoss: number;
  validationMetric: number | null;
  validationMetricName: string | null;
  device: string;
  trainRows: number;
  validationRows: number;
  /** The epoch of the checkpoint this attempt resumed from (0: it started from scratch). */
  resumedFromEpoch: number;
  details: Record<string, unknown>;
}

export interface CommandTrainingOptions {
  params: CommandTrainerParams;
  spec: DatasetSpec;
  seed: number;
  datasetId: string;
  arrow: Uint8Array;
  rows: TrainingRows;
  splitColumn: { name: string; train: string | number; validation: string | number; test: string | number };
  config: Pick<SluiceConfig, 'commandTrainers' | 'python' | 'onnxCuda'>;
  /** The GPU this run may use (GPU worker), or none (CPU worker: CUDA_VISIBLE_DEVICES=''). */
  device?: DeviceSlot;
  hb: Heartbeat;
  log: ActivityLogger;
  createSession?: CreateSession;
  /** Where announced checkpoints are stored (and restored from on a retry); none: checkpoints are ignored. */
  artifacts?: ArtifactStore;
}

const failed = (message: string, details: Record<string, unknown>, internal?: string): SluiceError =>
  new SluiceError(ErrorCodes.TrainerFailed, message, { details, ...(internal ? { internal } : {}) });
const badOutput = (message: string, details: Record<string, unknown> = {}): SluiceError =>
  new SluiceError(ErrorCodes.TrainerOutputInvalid, `the command trainer's model is refused: ${message}`, { details });

function float32Npy(rows: number, cols: number | undefined, values: Float32Array): Uint8Array {
  const header = npyHeader(cols === undefined ? [rows] : [rows, cols], '<f4');
  const out = new Uint8Array(header.length + values.byteLength);
  out.set(header, 0);
  out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), header.length);
  return out;
}

interface PreparedDataset {
  manifestPath: string;
  outputPath: string;
  numeric: NumericScaling[];
  categorical: CategoricalEncoding[];
  classes: ClassLabel[] | null;
  /** Raw inputs of a few validation rows (training rows when there are none), for the model check. */
  checkRows: { numeric: Float32Array; categorical: Record<string, string[]>; count: number };
}

/** The checkpoint directory the trainer writes into, and the checkpoint it resumes from (on a retry). */
interface CheckpointPlan {
  dir: string;
  resume: { path: string; epoch: number } | null;
}

/** Writes the .npy matrices, the Arrow file and the manifest into `dir`. */
async function prepareDataset(dir: string, o: CommandTrainingOptions, checkpoint: CheckpointPlan): Promise<PreparedDataset> {
  const { rows, spec } = o;
  const prep = fitPreprocessing(rows.data, spec, rows.split.train);
  const labels = encodeLabels(rows.data, spec);
  const numericNames = prep.numeric.map((s) => s.name);
  const d = numericNames.length;
  const c = prep.categorical.length;
  const numericCols = numericNames.map((n) => rows.data.columns[n] as ArrayLike<number | null>);
  const categoricalCols = prep.categorical.map((e) => rows.data.columns[e.name] as ArrayLike<string | number | null>);
  const vocabIndex = prep.categorical.map((e) => new Map(e.vocabulary.map((v, k) => [v, k])));
  const text = (v: string | number | null | undefined): string => (v === null || v === undefined ? '' : String(v));
  const splits: Record<string, unknown> = {};
  for (const [name, part] of [
    ['train', rows.split.train],
    ['validation', rows.split.validation],
  ] as const) {
    const n = part.length;
    const X = new Float32Array(n * d);
    const C = new Float32Array(n * c);
    const y = new Float32Array(n);
    for (let r = 0; r < n; r++) {
      const i = part[r] as number;
      for (let j = 0; j < d; j++) X[r * d + j] = Number((numericCols[j] as ArrayLike<number | null>)[i]);
      for (let j = 0; j < c; j++)
        C[r * c + j] = (vocabIndex[j] as Map<string, number>).get(text((categoricalCols[j] as ArrayLike<string | number | null>)[i])) ?? -1;
      y[r] = labels.values[i] as number;
    }
    const files: Record<string, string> = { X: path.join(dir, `X_${name}.npy`), y: path.join(dir, `y_${name}.npy`) };
    await fs.writeFile(files.X as string, float32Npy(n, d, X));
    await fs.writeFile(files.y as string, float32Npy(n, undefined, y));
    if (c > 0) {
      files.C = path.join(dir, `C_${name}.npy`);
      await fs.writeFile(files.C, float32Npy(n, c, C));
    }
    splits[name] = { rows: n, ...files };
  }
  const arrowPath = path.join(dir, 'dataset.arrow');
  await fs.writeFile(arrowPath, o.arrow);
  const outputPath = path.join(dir, 'model.onnx');
  const classes = labels.classes ?? null;
  const manifest = {
    format: MANIFEST_FORMAT,
    datasetId: o.datasetId,
    task: spec.task,
    label: spec.label,
    classes,
    numericFeatures: numericNames,
    standardisation: prep.numeric,
    categoricalFeatures: prep.categorical,
    layout: {
      X: 'float32 [rows, numericFeatures]: raw values in numericFeatures order (not standardised)',
      C: 'float32 [rows, categoricalFeatures]: index into each feature vocabulary, -1 = missing or unknown (only with categorical features)',
      y: spec.task === 'regression' ? 'float32 [rows]: the label value' : 'float32 [rows]: class index into classes',
    },
    splits,
    arrow: { path: arrowPath, splitColumn: o.splitColumn },
    seed: o.seed,
    params: o.params.params ?? {},
    output: outputPath,
    checkpoint: {
      dir: checkpoint.dir,
      announce: 'write a whole file under a new name in dir, then print {"epoch": n, ..., "checkpoint": "<file name>"}',
      resume: checkpoint.resume,
    },
    device: o.device ? { index: o.device.index, cudaVisibleDevices: String(o.device.index) } : null,
    onnx: {
      maxOpset: 19,
      inputs: [
        ...(d > 0 ? [{ name: NUMERIC_INPUT, type: 'float32', shape: ['N', d] }] : []),
        ...prep.categorical.map((e) => ({ name: e.name, type: 'string', shape: ['N', 1] })),
      ],
      outputs:
        spec.task === 'regression'
          ? [{ name: 'label', type: 'float32', shape: ['N'] }]
          : [
              { name: 'label', type: 'int64', shape: ['N'] },
              { name: 'probabilities', type: 'float32', shape: ['N', classes?.length ?? 0] },
            ],
    },
  };
  const manifestPath = path.join(dir, 'manifest.json');
  await fs.writeFile(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);

  const pool = rows.split.validation.length > 0 ? rows.split.validation : rows.split.train;
  const count = Math.min(CHECK_ROWS, pool.length);
  const numeric = new Float32Array(count * d);
  const categorical: Record<string, string[]> = {};
  prep.categorical.forEach((e) => (categorical[e.name] = []));
  for (let r = 0; r < count; r++) {
    const i = pool[r] as number;
    for (let j = 0; j < d; j++) numeric[r * d + j] = Number((numericCols[j] as ArrayLike<number | null>)[i]);
    prep.categorical.forEach((e, j) => categorical[e.name]?.push(text((categoricalCols[j] as ArrayLike<string | number | null>)[i])));
  }
  return {
    manifestPath,
    outputPath,
    numeric: prep.numeric,
    categorical: prep.categorical,
    classes,
    checkRows: { numeric, categorical, count },
  };
}

/** A JSON object on one line, or undefined for anything else. */
function jsonObject(line: string): Record<string, unknown> | undefined {
  const t = line.trim();
  if (!t.startsWith('{')) return undefined;
  try {
    const v: unknown = JSON.parse(t);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    // Not JSON after all: the caller logs and counts the line (the trainer's own output, not an error).
    return undefined;
  }
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length <= 100 ? v : undefined);

interface ProcessOutcome {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  cancelled: boolean;
  pid: number;
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch (err) {
    // ESRCH: the whole group is gone already, which is what was wanted.
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** Runs the trainer in a process group of its own; resolves once it has exited and its group is gone. */
function runInGroup(
  argv: string[],
  env: NodeJS.ProcessEnv,
  opts: {
    timeoutMs: number;
    signal: AbortSignal;
    onStdout: (line: string) => void;
    onStderr: (line: string) => void;
    onStart: (pid: number) => void;
  },
): Promise<ProcessOutcome> {
  return new Promise<ProcessOutcome>((resolve, reject) => {
    const child = spawn(argv[0] as string, argv.slice(1), { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env });
    let timedOut = false;
    let cancelled = false;
    let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    const stop = (): void => {
      if (exited || child.pid === undefined) return;
      killGroup(child.pid, 'SIGTERM');
      killTimer = setTimeout(() => child.pid !== undefined && killGroup(child.pid, 'SIGKILL'), KILL_GRACE_MS);
    };
    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, opts.timeoutMs);
    const onAbort = (): void => {
      cancelled = true;
      stop();
    };
    opts.signal.addEventListener('abort', onAbort, { once: true });
    const cleanup = (): void => {
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      opts.signal.removeEventListener('abort', onAbort);
    };
    child.once('error', (err) => {
      cleanup();
      reject(err);
    });
    if (child.pid !== undefined) opts.onStart(child.pid);
    createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', opts.onStdout);
    createInterface({ input: child.stderr, crlfDelay: Infinity }).on('line', opts.onStderr);
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      // Whatever the trainer started and left behind dies with it (and releases the pipes).
      if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
      // A descendant that left the group (setsid) may still hold the pipes open: stop reading them.
      setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
      }, KILL_GRACE_MS).unref();
    });
    child.once('close', () => {
      cleanup();
      resolve({ exitCode: exited?.code ?? null, signal: exited?.signal ?? null, timedOut, cancelled, pid: child.pid ?? -1 });
    });
  });
}

/** What the previous attempt's last heartbeat says (its checkpoint and process), when it was a command trainer's. */
function previousProgress(details: unknown): Pick<CommandProgress, 'checkpoint' | 'process'> {
  const d = details as Partial<CommandProgress> | null | undefined;
  if (!d || typeof d !== 'object' || d.trainer !== 'command') return {};
  const c = d.checkpoint;
  const checkpoint =
    c && typeof c.sha256 === 'string' && /^[0-9a-f]{64}$/.test(c.sha256) && typeof c.epoch === 'number' && CHECKPOINT_FILE.test(c.file)
      ? c
      : undefined;
  const p = d.process;
  const proc = p && typeof p.host === 'string' && Number.isInteger(p.pid) && p.pid > 1 && typeof p.manifest === 'string' ? p : undefined;
  return { ...(checkpoint ? { checkpoint } : {}), ...(proc ? { process: proc } : {}) };
}

/**
 * Stops the previous attempt's trainer when it outlived its worker (SIGKILL, OOM kill): only on the
 * same host, and only when that pid still runs with the previous manifest on its command line (a
 * reused pid is left alone). Its working directory goes with it.
 */
export async function stopStaleTrainer(p: NonNullable<CommandProgress['process']>, log: ActivityLogger): Promise<void> {
  if (p.host !== os.hostname()) return;
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${p.pid}/cmdline`, 'utf8');
  } catch {
    cmdline = ''; // gone (or no /proc here): nothing to stop
  }
  if (cmdline.split('\0').includes(p.manifest)) {
    log('stopping the previous attempt’s command trainer, which outlived its worker', { pid: p.pid });
    killGroup(p.pid, 'SIGKILL');
    for (let i = 0; i < 50 && existsSync(`/proc/${p.pid}`); i++) await new Promise((r) => setTimeout(r, 100));
  }
  const stale = path.dirname(p.manifest);
  if (path.dirname(stale) === os.tmpdir() && path.basename(stale).startsWith(WORK_DIR_PREFIX))
    await fs.rm(stale, { recursive: true, force: true });
}

function resolveArgv(command: string[], python: string): string[] {
  const [first, ...rest] = command;
  if (first === undefined) throw new SluiceError(ErrorCodes.InvalidInput, 'the command trainer has an empty command');
  return [first === 'python3' || first === 'python' ? python : first, ...rest];
}

/** Runs the executable and returns its checked model, stamped with sluice's metadata. */
export async function trainWithCommand(o: CommandTrainingOptions): Promise<CommandTrainingResult> {
  if (!o.config.commandTrainers) {
    throw new SluiceError(
      ErrorCodes.InvalidInput,
      'this worker does not run command trainers: its operator enables them with SLUICE_COMMAND_TRAINERS=true',
    );
  }
  const argv = resolveArgv(o.params.command, o.config.python);
  const timeoutSeconds = o.params.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS;
  const previous = previousProgress(o.hb.previous);
  // Until the trainer reports, the heartbeats carry the previous attempt's details: a crash while
  // the data is prepared must not lose the checkpoint it would resume from.
  if (previous.checkpoint) o.hb.progress(o.hb.previous);
  if (previous.process) await stopStaleTrainer(previous.process, o.log);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), WORK_DIR_PREFIX));
  try {
    const checkpointDir = path.join(dir, 'checkpoints');
    await fs.mkdir(checkpointDir);
    let resume: (CommandCheckpoint & { path: string }) | undefined;
    if (previous.checkpoint && o.artifacts) {
      const c = previous.checkpoint;
      try {
        const bytes = await readVerifiedArtifact(o.artifacts, c.sha256, 'command trainer checkpoint');
        const restored = path.join(checkpointDir, c.file);
        await fs.writeFile(restored, bytes);
        resume = { ...c, path: restored };
        o.log('command trainer resumes from the checkpoint of the previous attempt', { epoch: c.epoch, sha256: c.sha256 });
      } catch (err) {
        o.log('the previous attempt’s checkpoint could not be restored: the trainer starts from scratch', {
          epoch: c.epoch,
          sha256: c.sha256,
          error: (err as Error).message,
        });
      }
    }
    const prepared = await prepareDataset(dir, o, {
      dir: checkpointDir,
      resume: resume ? { path: resume.path, epoch: resume.epoch } : null,
    });
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!WITHHELD_ENV.test(k)) env[k] = v;
    Object.assign(env, {
      SLUICE_MANIFEST: prepared.manifestPath,
      SLUICE_OUTPUT: prepared.outputPath,
      SLUICE_DEVICE_INDEX: o.device ? String(o.device.index) : '',
      SLUICE_CHECKPOINT_DIR: checkpointDir,
      ...(resume ? { SLUICE_RESUME_FROM: resume.path } : {}),
      // One GPU per activity; none on a worker without a device slot (the CPU queue).
      CUDA_VISIBLE_DEVICES: o.device ? String(o.device.index) : '',
      PYTHONUNBUFFERED: '1',
    });
    const fullArgv = [...argv, '--manifest', prepared.manifestPath, '--output', prepared.outputPath, '--seed', String(o.seed)];
    let last: CommandProgress | undefined;
    /** The latest checkpoint in the artifact store (the restored one until the trainer announces another). */
    let stored: CommandCheckpoint | undefined = resume ? { sha256: resume.sha256, epoch: resume.epoch, file: resume.file } : undefined;
    let checkpointsStored = 0;
    let storing: Promise<void> = Promise.resolve();
    let running: CommandProgress['process'];
    const publish = (): void => {
      if (last) o.hb.progress({ ...last, ...(stored ? { checkpoint: stored } : {}), ...(running ? { process: running } : {}) });
    };
    /** Copies an announced checkpoint now (the trainer may go on and replace files) and stores it in order. */
    const takeCheckpoint = (name: unknown, epoch: number): void => {
      if (!o.artifacts) return;
      if (typeof name !== 'string' || !CHECKPOINT_FILE.test(name)) {
        o.log('command trainer announced a checkpoint that is not a file name in its checkpoint directory; ignored', {
          checkpoint: String(name).slice(0, 200),
        });
        return;
      }
      let bytes: Buffer;
      try {
        bytes = readFileSync(path.join(checkpointDir, name));
      } catch (err) {
        o.log('command trainer announced a checkpoint file that cannot be read; ignored', {
          checkpoint: name,
          error: (err as NodeJS.ErrnoException).code,
        });
        return;
      }
      const artifacts = o.artifacts;
      storing = storing.then(async () => {
        try {
          const ref = await artifacts.put(bytes, { mediaType: 'application/octet-stream', extension: '.ckpt' });
          if (!stored || epoch >= stored.epoch) stored = { sha256: ref.sha256, epoch, file: name };
          checkpointsStored++;
          publish();
        } catch (err) {
          o.log('a command trainer checkpoint could not be stored; training goes on', { epoch, error: (err as Error).message });
        }
      });
    };
    let progressLines = 0;
    let otherLines = 0;
    let reportedDevice: string | undefined;
    const stderrTail: string[] = [];
    o.log('command trainer starts', { command: argv, device: o.device?.index ?? null, timeoutSeconds });
    let outcome: ProcessOutcome;
    try {
      outcome = await runInGroup(fullArgv, env, {
        timeoutMs: timeoutSeconds * 1000,
        signal: o.hb.signal,
        onStart: (pid) => {
          running = { host: os.hostname(), pid, manifest: prepared.manifestPath };
          last = { trainer: 'command', epoch: resume?.epoch ?? 0 };
          publish();
          o.log('command trainer process started', { pid, ...(resume ? { resumeFromEpoch: resume.epoch } : {}) });
        },
        onStdout: (line) => {
          const obj = jsonObject(line);
          if (!obj) {
            otherLines++;
            if (line.trim()) o.log('command trainer printed a line that is not a JSON progress object', { line: line.slice(0, 500) });
            return;
          }
          progressLines++;
          reportedDevice = str(obj.device) ?? reportedDevice;
          const epoch = num(obj.epoch);
          if (epoch === undefined) return;
          const metric = num(obj.valMetric) ?? num(obj.validationMetric);
          const metricName = str(obj.valMetricName) ?? str(obj.validationMetricName);
          const loss = num(obj.loss);
          last = {
            trainer: 'command',
            epoch,
            ...(loss !== undefined ? { loss } : {}),
            ...(metric !== undefined ? { validationMetric: metric } : {}),
            ...(metricName ? { validationMetricName: metricName } : {}),
            ...(reportedDevice ? { device: reportedDevice } : {}),
          };
          publish();
          if (obj.checkpoint !== undefined) takeCheckpoint(obj.checkpoint, epoch);
        },
        onStderr: (line) => {
          stderrTail.push(line.slice(0, 1000));
          if (stderrTail.length > STDERR_TAIL_LINES) stderrTail.shift();
        },
      });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw failed(`the command trainer ${JSON.stringify(argv[0])} could not be started: ${e.code ?? e.message}`, {
        command: argv,
        code: e.code,
      });
    }
    await storing;
    const stderr = stderrTail.join('\n');
    const lastErr = stderrTail.filter((l) => l.trim()).at(-1);
    const base = { command: argv, pid: outcome.pid, exitCode: outcome.exitCode, signal: outcome.signal, progressLines, otherLines };
    if (outcome.cancelled) {
      o.hb.checkCancelled();
      throw new Error('the command trainer was cancelled');
    }
    if (outcome.timedOut) {
      throw failed(
        `the command trainer did not finish within ${timeoutSeconds} s (timeoutSeconds); its process group (pid ${outcome.pid}) was killed`,
        { ...base, timeoutSeconds },
        stderr,
      );
    }
    if (outcome.exitCode !== 0) {
      throw failed(
        `the command trainer exited with ${outcome.exitCode === null ? `signal ${outcome.signal}` : `code ${outcome.exitCode}`}${lastErr ? `; its last stderr line: ${lastErr.slice(0, 300)}` : ''}`,
        base,
        stderr,
      );
    }
    let written: Buffer;
    try {
      written = await fs.readFile(prepared.outputPath);
    } catch (err) {
      throw failed(
        `the command trainer exited 0 but wrote no model at ${prepared.outputPath} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'}): it must write its ONNX model to the --output path`,
        base,
        stderr,
      );
    }
    const metadata: [string, string][] = [
      ['sluice.model_format', '1'],
      ['sluice.trainer', 'command'],
      ['sluice.task', o.spec.task],
      ['sluice.label', o.spec.label],
      ['sluice.numeric_features', JSON.stringify(prepared.numeric.map((s) => s.name))],
      ['sluice.categorical_features', JSON.stringify(prepared.categorical.map((c) => c.name))],
      ...(prepared.classes ? ([['sluice.classes', JSON.stringify(prepared.classes)]] as [string, string][]) : []),
    ];
    let onnx: Uint8Array;
    try {
      onnx = withSluiceMetadata(written, metadata);
      readOnnxMetadata(onnx);
    } catch (err) {
      if (err instanceof OnnxFormatError) throw badOutput(`${prepared.outputPath} is not an ONNX file (${err.message})`);
      throw err;
    }
    const check = await checkModel(onnx, prepared, o);
    return {
      onnx,
      classes: prepared.classes,
      epochs: last?.epoch ?? 0,
      finalLoss: last?.loss ?? Number.NaN,
      validationMetric: last?.validationMetric ?? null,
      validationMetricName: last?.validationMetricName ?? null,
      device: reportedDevice ?? (o.device ? `gpu:${o.device.index}` : 'cpu'),
      trainRows: o.rows.split.train.length,
      validationRows: o.rows.split.validation.length,
      resumedFromEpoch: resume?.epoch ?? 0,
      details: {
        command: argv,
        progressLines,
        otherLines,
        checkpointsStored,
        ...(stored ? { lastCheckpoint: stored } : {}),
        deviceIndex: o.device?.index ?? null,
        ...(last ? { lastProgress: last } : {}),
        checkedRows: prepared.checkRows.count,
        executionProvider: check.provider,
        ...(check.note ? { executionProviderNote: check.note } : {}),
      },
    };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/**
 * Loads the model in onnxruntime-node (CUDA when the worker is configured for it and it loads)
 * and checks the inputs and outputs against the dataset spec, then runs it on a few rows: finite
 * outputs, class indices in range, probabilities that sum to 1.
 */
async function checkModel(
  onnx: Uint8Array,
  prepared: PreparedDataset,
  o: CommandTrainingOptions,
): Promise<{ provider: string; note?: string }> {
  const wantCuda = o.config.onnxCuda && o.device !== undefined;
  let opened: Awaited<ReturnType<typeof openInferenceSession>>;
  try {
    opened = await openInferenceSession(onnx, wantCuda, o.createSession);
  } catch (err) {
    throw badOutput(`onnxruntime-node cannot load it: ${(err as Error).message.split('\n')[0]}`);
  }
  const { session, provider, note } = opened;
  if (note) o.log(`command trainer: checking the model on ${provider.toUpperCase()} (${note})`, {});
  try {
    checkSignature(session, prepared, o.spec);
    const d = prepared.numeric.length;
    const n = prepared.checkRows.count;
    const feeds: Record<string, Tensor> = {};
    if (d > 0) feeds[NUMERIC_INPUT] = new Tensor('float32', prepared.checkRows.numeric, [n, d]);
    for (const [name, values] of Object.entries(prepared.checkRows.categorical)) feeds[name] = new Tensor('string', values, [n, 1]);
    let out: InferenceSession.ReturnType;
    try {
      out = await session.run(feeds);
    } catch (err) {
      throw badOutput(`running it on ${n} rows failed: ${(err as Error).message.split('\n')[0]}`);
    }
    checkOutputs(out, n, prepared.classes);
    return { provider, ...(note ? { note } : {}) };
  } finally {
    await session.release();
  }
}

function checkSignature(session: InferenceSession, prepared: PreparedDataset, spec: DatasetSpec): void {
  const d = prepared.numeric.length;
  const expected = new Map<string, { type: string; width: number }>();
  if (d > 0) expected.set(NUMERIC_INPUT, { type: 'float32', width: d });
  for (const c of prepared.categorical) expected.set(c.name, { type: 'string', width: 1 });
  const names = [...session.inputNames];
  const missing = [...expected.keys()].filter((k) => !names.includes(k));
  const extra = names.filter((k) => !expected.has(k));
  if (missing.length > 0 || extra.length > 0) {
    throw badOutput(
      `its inputs are ${JSON.stringify(names)}, but the dataset spec needs ${JSON.stringify([...expected.keys()])}` +
        `${missing.length ? `; missing ${JSON.stringify(missing)}` : ''}${extra.length ? `; unexpected ${JSON.stringify(extra)}` : ''}` +
        ` (input "${NUMERIC_INPUT}" float32 [N, ${d}] in the manifest's numericFeatures order, one string [N, 1] input per categorical feature)`,
      { inputs: names, expected: [...expected.keys()] },
    );
  }
  for (const meta of session.inputMetadata) {
    const want = expected.get(meta.name);
    if (!want) continue;
    if (!meta.isTensor || meta.type !== want.type)
      throw badOutput(`input "${meta.name}" is ${meta.isTensor ? meta.type : 'not a tensor'}, not ${want.type}`);
    const dims = meta.shape;
    const width = dims[1];
    if (dims.length !== 2 || (typeof width === 'number' && width !== want.width))
      throw badOutput(`input "${meta.name}" has shape ${JSON.stringify(dims)}, not [N, ${want.width}]`);
  }
  const outputs = new Map(session.outputMetadata.map((m) => [m.name, m]));
  const wanted: [string, string][] =
    spec.task === 'regression'
      ? [['label', 'float32']]
      : [
          ['label', 'int64'],
          ['probabilities', 'float32'],
        ];
  for (const [name, type] of wanted) {
    const m = outputs.get(name);
    if (!m)
      throw badOutput(
        `it has no "${name}" output (its outputs: ${JSON.stringify([...outputs.keys()])}; a ${spec.task} model needs ${wanted.map((w) => `"${w[0]}" ${w[1]}`).join(' and ')})`,
      );
    if (!m.isTensor || m.type !== type) throw badOutput(`output "${name}" is ${m.isTensor ? m.type : 'not a tensor'}, not ${type}`);
  }
}

function checkOutputs(out: InferenceSession.ReturnType, n: number, classes: ClassLabel[] | null): void {
  const label = out.label as Tensor;
  if (label.size !== n) throw badOutput(`output "label" has ${label.size} values for ${n} rows`);
  if (!classes) {
    const v = label.data as Float32Array;
    const bad = v.findIndex((x) => !Number.isFinite(x));
    if (bad >= 0) throw badOutput(`it predicts ${v[bad]} for check row ${bad}`);
    return;
  }
  const k = classes.length;
  const probs = out.probabilities as Tensor;
  if (probs.dims.length !== 2 || probs.dims[0] !== n || probs.dims[1] !== k)
    throw badOutput(
      `output "probabilities" has shape ${JSON.stringify(probs.dims)}, not [${n}, ${k}] (${k} classes: ${JSON.stringify(classes)})`,
    );
  const p = probs.data as Float32Array;
  const labels = label.data as BigInt64Array;
  for (let r = 0; r < n; r++) {
    let sum = 0;
    for (let j = 0; j < k; j++) {
      const x = p[r * k + j] as number;
      if (!Number.isFinite(x) || x < 0) throw badOutput(`output "probabilities" has ${x} in check row ${r}`);
      sum += x;
    }
    if (Math.abs(sum - 1) > 1e-3) throw badOutput(`the probabilities of check row ${r} sum to ${sum}, not 1`);
    const c = Number(labels[r]);
    if (!(c >= 0 && c < k)) throw badOutput(`output "label" is ${c} in check row ${r}, not a class index in [0, ${k})`);
  }
}
