/** Local stack for development, the demo and the tests: Temporal + PostgreSQL + migrations. */
import * as path from 'node:path';
import type { SluiceConfig } from '../../config';
import { redactUrl } from '../../config';
import { createPool } from '../../db/pool';
import { migrate } from '../../db/migrate';
import { ensurePostgres, type PostgresEndpoint } from './postgres';
import { ensureTemporal, type TemporalEndpoint } from './temporal';
import type { Logger } from './process';

export interface LocalStack {
  temporal: TemporalEndpoint;
  postgres: PostgresEndpoint;
  stop(): Promise<void>;
}

/** `config` pointed at the Temporal server the stack provides (for workers and clients in this process). */
export function withStackEndpoint(config: SluiceConfig, stack: LocalStack): SluiceConfig {
  return { ...config, temporal: { ...config.temporal, address: stack.temporal.address, namespace: stack.temporal.namespace } };
}

export async function provisionLocalStack(
  config: SluiceConfig,
  options: { dataDir?: string; log?: Logger; migrate?: boolean } = {},
): Promise<LocalStack> {
  const dataDir = options.dataDir ?? config.dataDir;
  const log = options.log ?? ((m: string) => process.stderr.write(`[sluice] ${m}\n`));
  const [temporalResult, postgresResult] = await Promise.allSettled([
    ensureTemporal(config, { dataDir: path.join(dataDir, 'temporal'), log }),
    ensurePostgres(config, { dataDir: path.join(dataDir, 'postgres'), log }),
  ]);
  if (temporalResult.status === 'rejected' || postgresResult.status === 'rejected') {
    if (temporalResult.status === 'fulfilled') await temporalResult.value.stop();
    if (postgresResult.status === 'fulfilled') await postgresResult.value.stop();
    const reasons = [temporalResult, postgresResult].filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    throw new Error(reasons.map((r) => (r.reason as Error).message).join('\n'));
  }
  const temporal = temporalResult.value;
  const postgres = postgresResult.value;
  if (options.migrate ?? true) {
    const pool = createPool(postgres.url, { max: 1 });
    try {
      await migrate(pool, { log });
    } catch (err) {
      await Promise.allSettled([temporal.stop(), postgres.stop()]);
      throw err;
    } finally {
      await pool.end();
    }
  }
  log(
    `Temporal ${temporal.address} (${temporal.source}), namespace ${temporal.namespace}; PostgreSQL ${redactUrl(postgres.url)} (${postgres.source})`,
  );
  return {
    temporal,
    postgres,
    async stop() {
      await Promise.allSettled([temporal.stop(), postgres.stop()]);
    },
  };
}

export { ensureTemporal, buildTemporalCli, findTemporalCli, registerSearchAttributes, cachedCliPath } from './temporal';
export { ensurePostgres } from './postgres';
