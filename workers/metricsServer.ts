/**
 * A worker's Prometheus endpoint (SLUICE_METRICS_HOST:SLUICE_METRICS_PORT, GET /metrics): sluice's
 * own metrics (activities/workerMetrics.ts) followed by the Temporal runtime's. The runtime serves
 * its metrics on a loopback port of its own (Runtime.install in workers/main.ts); the endpoint
 * fetches them at each scrape, so that a scrape config names one target per worker.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { PROMETHEUS_CONTENT_TYPE, type WorkerMetrics } from '../activities';

export interface MetricsServer {
  /** The URL of GET /metrics. */
  url: string;
  close(): Promise<void>;
}

/** The runtime's exposition, or a comment and `sluice_temporal_metrics_up 0` when it could not be read. */
async function runtimeText(url: string | undefined): Promise<string> {
  const up = (v: 0 | 1): string =>
    `# HELP sluice_temporal_metrics_up Whether the Temporal runtime's metrics could be read for this scrape.\n# TYPE sluice_temporal_metrics_up gauge\nsluice_temporal_metrics_up ${v}\n`;
  if (!url) return '';
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(3_000) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    return `${up(1)}${await res.text()}`;
  } catch (err) {
    return `# the Temporal runtime's metrics at ${url} could not be read: ${(err as Error).message.replace(/\s+/g, ' ')}\n${up(0)}`;
  }
}

/** Listens on host:port (port 0: a free one) until closed. */
export async function startMetricsServer(opts: {
  metrics: WorkerMetrics;
  host: string;
  port: number;
  /** The Temporal runtime's Prometheus URL (absent: sluice's metrics only). */
  runtimeMetricsUrl?: string;
}): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '/').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('GET /metrics\n');
      return;
    }
    Promise.all([opts.metrics.render(), runtimeText(opts.runtimeMetricsUrl)]).then(
      ([own, runtime]) => res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE }).end(own + runtime),
      (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`rendering the metrics failed: ${err.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new Error(
          `the metrics endpoint cannot listen on ${opts.host}:${opts.port} (SLUICE_METRICS_HOST, SLUICE_METRICS_PORT): ${err.message}`,
        ),
      ),
    );
    server.listen(opts.port, opts.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return {
    url: `http://${host}:${port}/metrics`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A free TCP port on 127.0.0.1 (for the runtime's own exporter, which cannot report the port it got). */
export async function freeLoopbackPort(): Promise<number> {
  const probe = http.createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}
