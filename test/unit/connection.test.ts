import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig } from '../../config';
import { connectWithBackoff } from '../../config/retry';
import { temporalConnectOptions } from '../../config/temporal';

describe('Temporal connection options', () => {
  it('plain by default', () => {
    expect(temporalConnectOptions(loadConfig({}).temporal, 'localhost:7233')).toEqual({ address: 'localhost:7233' });
  });

  it('mTLS from certificate files, API key for Temporal Cloud', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-tls-'));
    fs.writeFileSync(path.join(dir, 'c.pem'), 'CERT');
    fs.writeFileSync(path.join(dir, 'k.pem'), 'KEY');
    const cfg = loadConfig({
      TEMPORAL_TLS_CERT: path.join(dir, 'c.pem'),
      TEMPORAL_TLS_KEY: path.join(dir, 'k.pem'),
      TEMPORAL_TLS_SERVER_NAME: 'ns.tmprl.cloud',
    });
    const opts = temporalConnectOptions(cfg.temporal, 'ns.tmprl.cloud:7233');
    expect(opts.tls?.clientCertPair?.crt.toString()).toBe('CERT');
    expect(opts.tls?.clientCertPair?.key.toString()).toBe('KEY');
    expect(opts.tls?.serverNameOverride).toBe('ns.tmprl.cloud');
    const withKey = temporalConnectOptions(loadConfig({ TEMPORAL_API_KEY: 'secret-key' }).temporal, 'x:7233');
    expect(withKey).toEqual({ address: 'x:7233', tls: {}, apiKey: 'secret-key' });
  });

  it('names the variable of a certificate file it cannot read', () => {
    const cfg = loadConfig({ TEMPORAL_TLS_CERT: '/no/cert.pem', TEMPORAL_TLS_KEY: '/no/key.pem' });
    expect(() => temporalConnectOptions(cfg.temporal, 'x:7233')).toThrow(/Cannot read TEMPORAL_TLS_CERT=\/no\/cert\.pem/);
  });
});

describe('connectWithBackoff', () => {
  it('retries with growing delays until it connects', async () => {
    const delays: number[] = [];
    let calls = 0;
    const value = await connectWithBackoff(
      { service: 'thing', address: 'a:1', variable: 'THING' },
      async () => {
        calls++;
        if (calls < 4) throw new Error('refused');
        return 'connected';
      },
      { initialDelayMs: 10, onRetry: (_a, d) => delays.push(d) },
    );
    expect(value).toBe('connected');
    expect(delays).toEqual([10, 18, 32]);
  });

  it('gives up with the service, address, attempts and variable', async () => {
    await expect(
      connectWithBackoff(
        { service: 'thing', address: 'a:1', variable: 'THING' },
        async () => {
          throw new Error('refused');
        },
        { timeoutMs: 50, initialDelayMs: 10 },
      ),
    ).rejects.toThrow(/Cannot reach thing at a:1 after \d+ attempt\(s\): refused\. .*set THING/);
  });
});
