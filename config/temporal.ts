/** Temporal connection options (plain, mTLS, or an API key for Temporal Cloud) from validated configuration. */
import * as fs from 'node:fs';
import type { TemporalConnectionConfig } from './index';

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
