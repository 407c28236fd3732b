// Pipeline specs: one declaration (api/workflows/pipeline.ts), published as JSON Schema, checked
// with file, line and field; the shipped examples pass.
import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import {
  checkPipelineSpec,
  loadPipelineSpecFile,
  parsePipelineSpecText,
  PIPELINE_SCHEMA_PATH,
  publishedPipelineSchemaText,
} from '../../contracts/pipelineSpec';
import { workflows } from '../../api';
import { checkWorkflowInput } from '../../api/check';
import { stepsOfSpec } from '../../workflows/pipeline';

const root = path.resolve(__dirname, '../..');
const shipped = fs
  .readdirSync(path.join(root, 'pipelines'))
  .filter((f) => /\.(ya?ml|json)$/.test(f))
  .map((f) => path.join(root, 'pipelines', f));

describe('pipeline specs', () => {
  it('contracts/pipelines/pipeline.schema.json is the declaration (run `npm run schemas` after changing it)', () => {
    expect(fs.readFileSync(PIPELINE_SCHEMA_PATH, 'utf8')).toBe(publishedPipelineSchemaText());
  });

  it.each(shipped)('%s is valid, by sluice and by a strict JSON Schema validator', (file) => {
    const r = loadPipelineSpecFile(file);
    expect(r.ok ? [] : r.issues).toEqual([]);
    const ajv = new Ajv2020({ strict: true, allErrors: true });
    addFormats(ajv);
    const validate = ajv.compile(JSON.parse(fs.readFileSync(PIPELINE_SCHEMA_PATH, 'utf8')) as object);
    expect(r.ok && validate(r.spec)).toBe(true);
  });

  it('the demo spec runs the demo steps, with its SQL file inlined and hashed, and a deploy policy the deploy workflow takes', () => {
    const r = loadPipelineSpecFile(path.join(root, 'pipelines/demo.yaml'));
    if (!r.ok) throw new Error('demo spec invalid');
    expect(stepsOfSpec(r.spec)).toEqual(['ingest', 'transform', 'validate', 'snapshot', 'train', 'deploy']);
    // the spec stores the policy as it is; the deploy workflow checks it when the step runs
    const deploy = r.spec.deploy;
    const checked = checkWorkflowInput(workflows.deploy, {
      model: r.spec.train?.model,
      version: 1,
      endpoint: deploy?.endpoint,
      policy: deploy?.policy,
    });
    expect(checked).toMatchObject({ ok: true });
    expect(r.spec.transforms?.[0]).toMatchObject({
      name: 'page_views_typed',
      version: 1,
      sqlSha256: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(r.spec.transforms?.[0]?.sql).toContain("WHERE source = 'page_views'");
  });

  it('a spec loaded from its file passes the check SluiceClient.applyPipeline runs; sql and sqlFile written by hand conflict', () => {
    const r = loadPipelineSpecFile(path.join(root, 'pipelines/demo.yaml'));
    if (!r.ok) throw new Error('demo spec invalid');
    expect(checkPipelineSpec(r.spec)).toMatchObject({ ok: true });
    const [t] = r.spec.transforms ?? [];
    const byHand = { ...r.spec, transforms: [{ ...t, sql: 'SELECT 1' }] };
    expect(checkPipelineSpec(byHand)).toMatchObject({
      ok: false,
      issues: [expect.objectContaining({ path: '/transforms/0/sql', code: 'Conflict' })],
    });
  });

  it('names the file, line and field of each issue', () => {
    const text = [
      'name: demo',
      'sources:',
      '  - source: page_views',
      'train:',
      '  model: pv',
      '  seed: -1',
      '  trainer: { trainer: ridge }',
    ].join('\n');
    const r = parsePipelineSpecText(text, 'p.yaml');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.issues).toContainEqual(expect.objectContaining({ file: 'p.yaml', line: 6, path: '/train/seed' }));
    // a missing field points at its parent
    const missing = parsePipelineSpecText('name: demo\nsources:\n  - contract: page_views\n', 'm.yaml');
    expect(missing.ok ? [] : missing.issues).toContainEqual(
      expect.objectContaining({ line: 3, path: '/sources/0/source', code: 'ObjectRequiredProperty' }),
    );
    // JSON too
    const json = parsePipelineSpecText('{\n  "name": "demo",\n  "sources": [],\n  "extra": 1\n}\n', 'p.json');
    expect(json.ok ? [] : json.issues.map((i) => [i.line, i.path])).toEqual(
      expect.arrayContaining([
        [3, '/sources'],
        [4, '/extra'],
      ]),
    );
    // syntax errors say where
    const syntax = parsePipelineSpecText('name: demo\nsources: [\n', 's.yaml');
    expect(syntax.ok ? undefined : syntax.issues[0]).toMatchObject({ file: 's.yaml', code: 'Syntax' });
  });

  it('checks references a schema cannot: dataset transform, validation source, train without a dataset', () => {
    const r = checkPipelineSpec({
      name: 'x',
      sources: [{ source: 'a' }],
      transforms: [{ name: 't', version: 1 }],
      validation: { suite: 'a', on: { log: 'b' } },
      dataset: { transform: 'u', spec: { features: [{ name: 'f', kind: 'numeric' }], label: 'y', task: 'binary' } },
      deploy: { endpoint: 'e', policy: {} },
    });
    expect(r.ok ? [] : r.issues.map((i) => i.path).sort()).toEqual(['/dataset/transform', '/deploy', '/validation/on/log']);
  });
});
