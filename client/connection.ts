/**
 * Temporal connection options (plain, mTLS or API key for Temporal Cloud) and connecting with
 * backoff, shared by the client, the workers and the scripts.
 */
import * as fs from 'node:fs';
import { Connection } from '@temporalio/client';
import type { TemporalConnectionConfig } from './config';

export interface TemporalConnectOptions {
  address: string;
  tls?: {
    clientCertPair?: { crt: Buffer; key: Buffer };
    serverRootCACertificate?: Buffer;
    serverNameOverride?: string;
  };
  apiKey?: string;
}

function readFileFor(variable: string, file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new Error(`Cannot read ${variable}=${file}: ${(err as Error).message}`);
  }
}

/** Turns validated configuration into options for `Connection.connect` / `NativeConnection.connect`. */
export function temporalConnectOptions(cfg: TemporalConnectionConfig, address: string): TemporalConnectOptions {
  const opts: TemporalConnectOptions = { address };
  if (cfg.tls) {
    opts.tls = {};
    if (cfg.tls.certPath && cfg.tls.keyPath) {
      opts.tls.clientCertPair = {
        crt: readFileFor('TEMPORAL_TLS_CERT', cfg.tls.certPath),
        key: readFileFor('TEMPORAL_TLS_KEY', cfg.tls.keyPath),
      };
    }
    if (cfg.tls.caPath) opts.tls.serverRootCACertificate = readFileFor('TEMPORAL_TLS_CA', cfg.tls.caPath);
    if (cfg.tls.serverName) opts.tls.serverNameOverride = cfg.tls.serverName;
  }
  if (cfg.apiKey) opts.apiKey = cfg.apiKey;
  return opts;
}

export interface RetryOptions {
  /** Total time to keep trying, in ms (default 60 s). */
  timeoutMs?: number;
  initialDelayMs?: number;
  maxDelayMs?: number;
  onRetry?: (attempt: number, delayMs: number, err: Error) => void;
}

/**
 * Calls `connect` until it succeeds or the time is up, with exponential backoff; the final error
 * names what could not be reached and the variable that points at it.
 */
export async function connectWithBackoff<T>(
  what: { service: string; address: string; variable: string },
  connect: () => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  let delay = options.initialDelayMs ?? 250;
  const maxDelay = options.maxDelayMs ?? 5_000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await connect();
    } catch (err) {
      const e = err as Error;
      if (Date.now() + delay > deadline) {
        throw new Error(
          `Cannot reach ${what.service} at ${what.address} after ${attempt} attempt(s): ${e.message}. ` +
            `Check that it is running, or set ${what.variable} to a reachable address.`,
          { cause: e },
        );
      }
      options.onRetry?.(attempt, delay, e);
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(maxDelay, Math.round(delay * 1.8));
    }
  }
}

/** A client-side connection to Temporal, retried with backoff. */
export async function connectTemporal(
  cfg: TemporalConnectionConfig,
  address: string,
  options: RetryOptions = {},
): Promise<Connection> {
  const opts = temporalConnectOptions(cfg, address);
  return connectWithBackoff(
    { service: 'Temporal', address, variable: 'TEMPORAL_ADDRESS' },
    () => Connection.connect({ ...opts, connectTimeout: 5_000 }),
    options,
  );
}
