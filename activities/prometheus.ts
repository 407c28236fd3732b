/**
 * Metrics in Prometheus' text exposition format (version 0.0.4): counters, gauges and histograms
 * with labels, kept in memory and rendered on GET /metrics. The one implementation behind the
 * scoring service's /metrics and the workers' (activities/workerMetrics.ts). Small on purpose:
 * sluice needs a few dozen series, not a client library.
 */

export type Labels = Record<string, string>;

const escapeLabel = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const labelText = (labels: Labels): string => {
  const keys = Object.keys(labels);
  return keys.length === 0 ? '' : `{${keys.map((k) => `${k}="${escapeLabel(labels[k] as string)}"`).join(',')}}`;
};
const num = (v: number): string => (Number.isFinite(v) ? String(v) : v > 0 ? '+Inf' : v < 0 ? '-Inf' : 'NaN');

interface Series<T> {
  labels: Labels;
  value: T;
}

export abstract class Metric<T> {
  protected readonly series = new Map<string, Series<T>>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' | 'histogram',
  ) {}

  protected at(labels: Labels, init: () => T): Series<T> {
    const key = labelText(labels);
    let s = this.series.get(key);
    if (!s) {
      s = { labels, value: init() };
      this.series.set(key, s);
    }
    return s;
  }

  abstract lines(): string[];

  render(): string {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`, ...this.lines()].join('\n');
  }
}

export class Counter extends Metric<number> {
  constructor(name: string, help: string) {
    super(name, help, 'counter');
  }
  inc(labels: Labels = {}, by = 1): void {
    this.at(labels, () => 0).value += by;
  }
  lines(): string[] {
    return [...this.series.values()].map((s) => `${this.name}${labelText(s.labels)} ${num(s.value)}`);
  }
}

export class Gauge extends Metric<number> {
  /** `collect` sets the values just before rendering (for values read from elsewhere). */
  constructor(
    name: string,
    help: string,
    private readonly collect?: (g: Gauge) => void,
  ) {
    super(name, help, 'gauge');
  }
  set(labels: Labels, value: number): void {
    this.at(labels, () => 0).value = value;
  }
  /** Drops one series (a training that finished). */
  delete(labels: Labels): void {
    this.series.delete(labelText(labels));
  }
  /** Drops every series (before `collect` sets the current ones). */
  clear(): void {
    this.series.clear();
  }
  lines(): string[] {
    this.collect?.(this);
    return [...this.series.values()].map((s) => `${this.name}${labelText(s.labels)} ${num(s.value)}`);
  }
}

export class Histogram extends Metric<{ counts: number[]; sum: number; count: number }> {
  constructor(
    name: string,
    help: string,
    readonly buckets: readonly number[],
  ) {
    super(name, help, 'histogram');
  }
  observe(labels: Labels, value: number): void {
    const s = this.at(labels, () => ({ counts: new Array<number>(this.buckets.length).fill(0), sum: 0, count: 0 })).value;
    // cumulative buckets: every bound at or above the value counts it
    for (let i = 0; i < this.buckets.length; i++) if (value <= (this.buckets[i] as number)) s.counts[i] = (s.counts[i] ?? 0) + 1;
    s.sum += value;
    s.count++;
  }
  lines(): string[] {
    const out: string[] = [];
    for (const s of this.series.values()) {
      this.buckets.forEach((b, i) => out.push(`${this.name}_bucket${labelText({ ...s.labels, le: num(b) })} ${s.value.counts[i] ?? 0}`));
      out.push(`${this.name}_bucket${labelText({ ...s.labels, le: '+Inf' })} ${s.value.count}`);
      out.push(`${this.name}_sum${labelText(s.labels)} ${num(s.value.sum)}`);
      out.push(`${this.name}_count${labelText(s.labels)} ${s.value.count}`);
    }
    return out;
  }
}

/** Renders metrics as one exposition (Content-Type: text/plain; version=0.0.4). */
export function renderMetrics(metrics: readonly Metric<unknown>[]): string {
  return `${metrics.map((m) => m.render()).join('\n')}\n`;
}

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
