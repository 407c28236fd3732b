/** Local stack for development, the demo and the tests: Temporal + PostgreSQL + migrations. */
import * as path from 'node:path';
import type { SluiceConfig } from '../../config';
import { redactUrl } from '../../config';
import { createPool } from '../../db/pool';
import { migrate } from '../../db/migrate';
import { resolveDatabaseAccess } from '../../db/roles';
import { ensurePostgres, type PostgresEndpoint } from './postgres';
import { ensureTemporal, type TemporalEndpoint } from './temporal';
import type { Logger } from './process';

export interface LocalStack {
  temporal: TemporalEndpoint;
  postgres: PostgresEndpoint;
  /** Temporal, then PostgreSQL (each only if this stack started it). */
  stop(): Promise<void>;
  /** Kills the servers this stack started, at once (a forced exit). */
  kill(): void;
}

/** `config` pointed at the Temporal server the stack provides (for workers and clients in this process). */
export function withStackEndpoint(config: SluiceConfig, stack: LocalStack): SluiceConfig {
  return { ...config, temporal: { ...config.temporal, address: stack.temporal.address, namespace: stack.temporal.namespace } };
}

export async function provisionLocalStack(
  config: SluiceConfig,
  options: {
    dataDir?: string;
    log?: Logger;
    migrate?: boolean;
    /** Servers in their own process groups, stopped by the caller on Ctrl-C (scripts/shutdown.ts). */
    ownProcessGroups?: boolean;
  } = {},
): Promise<LocalStack> {
  const dataDir = options.dataDir ?? config.dataDir;
  const log = options.log ?? ((m: string) => process.stderr.write(`[sluice] ${m}\n`));
  const [temporalResult, postgresResult] = await Promise.allSettled([
    ensureTemporal(config, { dataDir: path.join(dataDir, 'temporal'), log, ownProcessGroup: options.ownProcessGroups }),
    ensurePostgres(config, { dataDir: path.join(dataDir, 'postgres'), log, ownProcessGroup: options.ownProcessGroups }),
  ]);
  if (temporalResult.status === 'rejected' || postgresResult.status === 'rejected') {
    if (temporalResult.status === 'fulfilled') await temporalResult.value.stop();
    if (postgresResult.status === 'fulfilled') await postgresResult.value.stop();
    const reasons = [temporalResult, postgresResult].filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    throw new Error(reasons.map((r) => (r.reason as Error).message).join('\n'));
  }
  const temporal = temporalResult.value;
  let postgres = postgresResult.value;
  try {
    // A superuser URL (the embedded server's, or DATABASE_URL) only creates the roles; from here on
    // migrations run as sluice_owner and everything else as sluice_worker.
    const access = await resolveDatabaseAccess(postgres.url, {
      passwordsFile: config.rolePasswordsFile,
      ownerUrl: config.databaseOwnerUrl,
    });
    if (access.adminUrl)
      log('PostgreSQL roles sluice_owner, sluice_worker and sluice_transform are in place; sluice connects as sluice_worker');
    postgres = { ...postgres, url: access.workerUrl, ownerUrl: access.ownerUrl, adminUrl: access.adminUrl };
    if (options.migrate ?? true) {
      if (!access.ownerUrl) {
        log(
          'not migrating: DATABASE_URL is not a superuser and SLUICE_DATABASE_OWNER_URL is not set (run `npm run migrate` with the owner role)',
        );
      } else {
        const pool = createPool(access.ownerUrl, { max: 1, applicationName: 'sluice-migrate' });
        try {
          await migrate(pool, { log });
        } finally {
          await pool.end();
        }
      }
    }
  } catch (err) {
    await Promise.allSettled([temporal.stop(), postgres.stop()]);
    throw err;
  }
  log(
    `Temporal ${temporal.address} (${temporal.source}), namespace ${temporal.namespace}; PostgreSQL ${redactUrl(postgres.url)} (${postgres.source})`,
  );
  return {
    temporal,
    postgres,
    async stop() {
      // Temporal first: its history is in its own file, and nothing that still runs needs PostgreSQL after it.
      await temporal.stop().catch((err: Error) => log(`stopping Temporal: ${err.message}`));
      await postgres.stop();
    },
    kill() {
      temporal.kill?.();
      postgres.kill?.();
    },
  };
}

export { ensureTemporal, buildTemporalCli, findTemporalCli, registerSearchAttributes, cachedCliPath } from './temporal';
export { ensurePostgres } from './postgres';
