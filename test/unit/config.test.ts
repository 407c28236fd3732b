import * as fs from 'node:fs';
import { ConfigError, loadConfig, parseConfig } from '../../config';

describe('configuration from the environment', () => {
  it('has working defaults', () => {
    const r = parseConfig({}, '/srv/app');
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.temporal.address).toBeUndefined();
    expect(r.value.temporal.namespace).toBe('sluice');
    expect(r.value.taskQueues).toEqual({ cpu: 'sluice-cpu', gpu: 'sluice-gpu' });
    expect(r.value.gpuCount).toBe(1);
    expect(r.value.dataDir).toBe('/srv/app/.sluice');
    expect(r.value.artifactsDir).toBe('/srv/app/.sluice/artifacts');
    expect(r.value.temporal.tls).toBeUndefined();
    expect(r.value.onnxCuda).toBe(false);
  });

  it('reads the metrics endpoint and the log format and level, and refuses bad values', () => {
    const off = parseConfig({}, '/srv/app');
    expect(off.ok && off.value.metrics).toEqual({ host: '127.0.0.1', port: undefined });
    expect(off.ok && [off.value.logFormat, off.value.logLevel]).toEqual([undefined, undefined]);
    expect(parseConfig({ SLUICE_METRICS_PORT: '0' }, '/srv/app')).toMatchObject({ ok: true, value: { metrics: { port: undefined } } });
    const on = parseConfig(
      { SLUICE_METRICS_PORT: '9464', SLUICE_METRICS_HOST: '0.0.0.0', SLUICE_LOG_FORMAT: 'text', SLUICE_LOG_LEVEL: 'DEBUG' },
      '/srv/app',
    );
    expect(on).toMatchObject({ ok: true, value: { metrics: { host: '0.0.0.0', port: 9464 }, logFormat: 'text', logLevel: 'DEBUG' } });
    const bad = parseConfig(
      { SLUICE_METRICS_PORT: '70000', SLUICE_METRICS_HOST: 'not a host', SLUICE_LOG_FORMAT: 'xml', SLUICE_LOG_LEVEL: 'loud' },
      '/srv/app',
    );
    expect(bad.ok ? [] : bad.issues).toEqual([
      { variable: 'SLUICE_METRICS_HOST', value: 'not a host', expected: expect.stringMatching(/IP address or host name/) },
      { variable: 'SLUICE_METRICS_PORT', value: '70000', expected: 'an integer from 0 to 65535' },
      { variable: 'SLUICE_LOG_FORMAT', value: 'xml', expected: 'one of json, text' },
      { variable: 'SLUICE_LOG_LEVEL', value: 'loud', expected: 'one of TRACE, DEBUG, INFO, WARN, ERROR' },
    ]);
  });

  it('reads SLUICE_ONNX_CUDA as true or false, and refuses anything else', () => {
    expect(loadConfig({ SLUICE_ONNX_CUDA: 'true' }).onnxCuda).toBe(true);
    expect(loadConfig({ SLUICE_ONNX_CUDA: '0' }).onnxCuda).toBe(false);
    expect(() => loadConfig({ SLUICE_ONNX_CUDA: 'yes' })).toThrow(/SLUICE_ONNX_CUDA="yes": expected true or false/);
  });

  it('runs command trainers only when SLUICE_COMMAND_TRAINERS says so, with SLUICE_PYTHON or the system python3', () => {
    expect(loadConfig({}).commandTrainers).toBe(false);
    expect(loadConfig({ SLUICE_COMMAND_TRAINERS: 'true' }).commandTrainers).toBe(true);
    expect(loadConfig({ SLUICE_PYTHON: '/opt/venv/bin/python' }).python).toBe('/opt/venv/bin/python');
    expect(loadConfig({}).python).toBe(fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
  });

  it('reads every variable', () => {
    const r = parseConfig({
      TEMPORAL_ADDRESS: 'temporal.internal:7233',
      TEMPORAL_NAMESPACE: 'prod',
      DATABASE_URL: 'postgres://u:p@db:5432/sluice',
      SLUICE_GPU_COUNT: '4',
      SLUICE_TASK_QUEUE_CPU: 'cpu-a',
      TEMPORAL_API_KEY: 'k',
    });
    expect(r.ok && r.value.temporal.address).toBe('temporal.internal:7233');
    expect(r.ok && r.value.gpuCount).toBe(4);
    expect(r.ok && r.value.taskQueues.cpu).toBe('cpu-a');
    expect(r.ok && r.value.temporal.tls).toEqual({ certPath: undefined, keyPath: undefined, caPath: undefined, serverName: undefined });
  });

  it('names every bad variable, its value and what was expected', () => {
    const r = parseConfig({
      SLUICE_GPU_COUNT: 'two',
      TEMPORAL_ADDRESS: 'http://x',
      DATABASE_URL: 'mysql://a:secret@b/c',
      TEMPORAL_TLS_CERT: '/c.pem',
    });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.issues.map((i) => i.variable).sort()).toEqual(['DATABASE_URL', 'SLUICE_GPU_COUNT', 'TEMPORAL_ADDRESS', 'TEMPORAL_TLS_KEY']);
    const db = r.issues.find((i) => i.variable === 'DATABASE_URL');
    expect(db?.value).not.toContain('secret');
    expect(() => loadConfig({ SLUICE_GPU_COUNT: '0' })).toThrow(ConfigError);
    expect(() => loadConfig({ SLUICE_GPU_COUNT: '0' })).toThrow(/SLUICE_GPU_COUNT="0": expected an integer from 1 to 64/);
  });
});
