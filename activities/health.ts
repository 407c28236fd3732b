/** Health activities: what the workers can reach (database, ONNX Runtime), used by `healthCheck`. */
import * as os from 'node:os';
import type { Pool } from 'pg';
import type { DatabaseHealth, RuntimeHealth } from '../api/workflows/healthCheck';
import type { ActivityDeps } from './deps';
import { openInferenceSession } from './evaluate/scoring';
import { buildAddModel } from './onnx/tinyModel';

export function createHealthActivities(deps: { pool: Pool } & Partial<Pick<ActivityDeps, 'config' | 'log'>>) {
  return {
    /** Reads the server version, the applied migrations and the size of the log. Read-only; idempotent. */
    async describeDatabase(): Promise<DatabaseHealth> {
      const v = await deps.pool.query<{ v: string }>("SELECT current_setting('server_version') AS v");
      const m = await deps.pool.query<{ n: string }>('SELECT count(*)::text AS n FROM sluice.schema_migrations');
      const c = await deps.pool.query<{ raw: string; q: string }>(
        'SELECT (SELECT count(*) FROM sluice.raw_events)::text AS raw, (SELECT count(*) FROM sluice.quarantine)::text AS q',
      );
      return {
        serverVersion: v.rows[0]?.v ?? 'unknown',
        migrations: Number(m.rows[0]?.n ?? 0),
        rawEvents: Number(c.rows[0]?.raw ?? 0),
        quarantined: Number(c.rows[0]?.q ?? 0),
      };
    },

    /**
     * Loads onnxruntime-node on this worker, lists its backends and runs a one-node graph: on CUDA
     * when the worker is configured for it (SLUICE_ONNX_CUDA) and the provider loads, else on the
     * CPU, and a fallback is said in the result, the log and the run event. No side effects; idempotent.
     */
    async probeRuntime(): Promise<RuntimeHealth & { runEventDetails: Record<string, unknown> }> {
      const ort = await import('onnxruntime-node');
      const wantCuda = (deps.config?.onnxCuda ?? false) && (deps.config?.gpuCount ?? 0) > 0;
      const { session, provider, note } = await openInferenceSession(buildAddModel(), wantCuda);
      if (note) deps.log?.(`probeRuntime: ${note}`);
      const a = new ort.Tensor('float32', Float32Array.from([1, 2]), [2]);
      const b = new ort.Tensor('float32', Float32Array.from([3, 4]), [2]);
      const out = await session.run({ a, b });
      const sum = out.sum?.data as Float32Array | undefined;
      await session.release();
      const backends = (ort as unknown as { listSupportedBackends?: () => { name: string }[] })
        .listSupportedBackends?.()
        .map((b) => b.name) ?? ['cpu'];
      return {
        host: os.hostname(),
        onnxruntime: ort.env.versions.common,
        backends,
        inferenceOk: sum !== undefined && sum[0] === 4 && sum[1] === 6,
        executionProvider: provider,
        ...(note ? { executionProviderNote: note } : {}),
        runEventDetails: { executionProvider: provider, ...(note ? { executionProviderNote: note } : {}) },
      };
    },
  };
}
