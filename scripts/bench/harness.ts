/**
 * Benchmark harness: `npm run bench -- <suite> [...]` runs suites on the local stack (Temporal +
 * PostgreSQL, provisioned like `npm run dev`), prints a table and writes
 * bench-results/<suite>.json shaped { suite, metrics: { name: { value, unit } }, ratios: { name: number } }.
 * Ratios are measured side by side in one run: this machine is noisy.
 */
import * as fs from 'node:fs';
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

export function writeResult(result: BenchResult, dir = path.resolve('bench-results')): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${result.suite}.json`);
  fs.writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  return file;
}

export function formatTable(result: BenchResult): string {
  const rows: [string, string, string][] = [
    ...Object.entries(result.metrics).map(([k, m]): [string, string, string] => [k, m.value.toLocaleString('en-US', { maximumFractionDigits: 3 }), m.unit]),
    ...Object.entries(result.ratios).map(([k, v]): [string, string, string] => [k, v.toFixed(3), 'ratio']),
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
