/**
 * Benchmark harness: `npm run bench -- <suite> [...]` runs suites on the local stack (Temporal +
 * PostgreSQL, provisioned like `npm run dev`), prints a table and writes
 * bench-results/<suite>.json shaped { suite, metrics: { name: { value, unit } }, ratios: { name: number },
 * goals, run: { date, commit, machine } }. The latest file of each suite is committed, so that the
 * README's figures can be checked against it. Ratios are measured side by side in one run: this
 * machine is noisy.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { SluiceConfig } from '../../config';
import type { LocalStack } from '../provision';

export interface Metric {
  value: number;
  unit: string;
}

export interface BenchResult {
  suite: string;
  metrics: Record<string, Metric>;
  ratios: Record<string, number>;
  /** Free-form facts about the run (row counts, machine, notes). */
  notes?: Record<string, unknown>;
  /** What a figure must reach, by metric or ratio name: `{ op: '>=', value: 0.9 }`. */
  goals?: Record<string, Goal>;
}

export interface Goal {
  op: '>=' | '<=';
  value: number;
}

/** Where and on what a result was measured: the commit, the machine, the date. */
export interface RunInfo {
  date: string;
  commit: string;
  /** The working tree had uncommitted changes when the figures were taken. */
  dirty: boolean;
  scale: number;
  machine: { cpus: number; cpuModel: string; memoryGiB: number; platform: string; node: string };
}

export function runInfo(scale: number, cwd = process.cwd()): RunInfo {
  const git = (...args: string[]): string => {
    try {
      return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return ''; // not a git checkout (an installed package): recorded as unknown below
    }
  };
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    commit: git('rev-parse', 'HEAD') || 'unknown',
    dirty: git('status', '--porcelain', '--untracked-files=no') !== '',
    scale,
    machine: {
      cpus: cpus.length,
      cpuModel: cpus[0]?.model ?? 'unknown',
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      platform: `${os.platform()} ${os.release()}`,
      node: process.version,
    },
  };
}

/** Whether each figure with a goal reached it. */
export function goalsMet(result: BenchResult): Record<string, boolean> {
  const out: Record<string, boolean> = {};
  for (const [name, goal] of Object.entries(result.goals ?? {})) {
    const value = result.ratios[name] ?? result.metrics[name]?.value;
    if (value === undefined) continue;
    out[name] = goal.op === '>=' ? value >= goal.value : value <= goal.value;
  }
  return out;
}

export interface BenchContext {
  config: SluiceConfig;
  stack: LocalStack;
  /** Scale factor from --scale (default 1): 0.1 for a quick look, 1 for the figures the issues ask for. */
  scale: number;
  log: (message: string) => void;
}

export interface BenchSuite {
  name: string;
  description: string;
  run(ctx: BenchContext): Promise<Omit<BenchResult, 'suite'>>;
}

export function writeResult(result: BenchResult & { run?: RunInfo }, dir = path.resolve('bench-results')): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${result.suite}.json`);
  fs.writeFileSync(file, `${JSON.stringify({ ...result, met: goalsMet(result) }, null, 2)}\n`);
  return file;
}

export function formatTable(result: BenchResult): string {
  const met = goalsMet(result);
  const goal = (k: string): string => {
    const g = result.goals?.[k];
    return g ? `  goal ${g.op} ${g.value}: ${met[k] ? 'met' : 'NOT MET'}` : '';
  };
  const rows: [string, string, string][] = [
    ...Object.entries(result.metrics).map(([k, m]): [string, string, string] => [
      k,
      m.value.toLocaleString('en-US', { maximumFractionDigits: 3 }),
      `${m.unit}${goal(k)}`,
    ]),
    ...Object.entries(result.ratios).map(([k, v]): [string, string, string] => [k, v.toFixed(3), `ratio${goal(k)}`]),
  ];
  const w0 = Math.max(6, ...rows.map((r) => r[0].length));
  const w1 = Math.max(5, ...rows.map((r) => r[1].length));
  const line = (a: string, b: string, c: string): string => `  ${a.padEnd(w0)}  ${b.padStart(w1)}  ${c}`;
  return [`suite ${result.suite}`, line('metric', 'value', 'unit'), ...rows.map((r) => line(...r))].join('\n');
}

/** Times `fn` and returns [result, seconds]. */
export async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = process.hrtime.bigint();
  const out = await fn();
  return [out, Number(process.hrtime.bigint() - t0) / 1e9];
}
