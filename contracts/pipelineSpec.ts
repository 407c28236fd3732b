/**
 * Pipeline specs as files: YAML (`.yaml`, `.yml`), JSON, or a TypeScript/JavaScript module whose
 * default export is the spec object. A spec is checked against its one declaration
 * (api/workflows/pipeline.ts, published as contracts/pipelines/pipeline.schema.json) and against
 * its own references (the dataset's transform is one of its transforms, …) before anything is
 * stored or run; every issue names the file, the line and the field (JSON pointer).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LineCounter, parseDocument, type Document } from 'yaml';
import { checkValue } from '../api/check';
import { PipelineSpecSchema, type PipelineSpec } from '../api/workflows/pipeline';
import { canonicalJson, sha256Hex } from './canonical';

export const PIPELINE_SCHEMA_PATH = path.join(__dirname, 'pipelines', 'pipeline.schema.json');

export interface SpecIssue {
  file: string;
  /** 1-based line and column of the field (or of its nearest parent that exists); 0 when unknown. */
  line: number;
  column: number;
  /** JSON pointer of the field ("" for the whole spec). */
  path: string;
  code: string;
  message: string;
}

export type SpecResult = { ok: true; spec: PipelineSpec; sha256: string } | { ok: false; issues: SpecIssue[] };

/** `file:line:column: /pointer: message`, one per line. */
export function formatSpecIssues(issues: SpecIssue[]): string {
  return issues.map((i) => `${i.file}:${i.line}:${i.column}: ${i.path || '(spec)'}: ${i.message}`).join('\n');
}

/** The sha256 of a spec's canonical JSON: what "the same spec" means when it is applied again. */
export function pipelineSpecSha256(spec: PipelineSpec): string {
  return sha256Hex(canonicalJson(spec));
}

function unescapePointer(segment: string): string {
  return segment.replace(/~1/g, '/').replace(/~0/g, '~');
}

/** Line and column of the node at `pointer`, or of its nearest ancestor that exists. */
function positionOf(doc: Document | undefined, lines: LineCounter | undefined, pointer: string): { line: number; column: number } {
  if (!doc || !lines) return { line: 0, column: 0 };
  const segments = pointer === '' ? [] : pointer.slice(1).split('/').map(unescapePointer);
  for (let n = segments.length; n >= 0; n--) {
    const keys = segments.slice(0, n).map((s) => (/^(0|[1-9][0-9]*)$/.test(s) ? Number(s) : s));
    const node = keys.length === 0 ? doc.contents : (doc.getIn(keys, true) as { range?: [number, number, number] } | undefined);
    const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
    if (range) {
      const p = lines.linePos(range[0]);
      return { line: p.line, column: p.col };
    }
  }
  return { line: 1, column: 1 };
}

/** References inside a spec that its schema cannot express. */
function referenceIssues(spec: PipelineSpec): { path: string; code: string; message: string }[] {
  const issues: { path: string; code: string; message: string }[] = [];
  const sources = new Set(spec.sources.map((s) => s.source));
  const seenSources = new Set<string>();
  spec.sources.forEach((s, i) => {
    if (seenSources.has(s.source))
      issues.push({ path: `/sources/${i}/source`, code: 'Duplicate', message: `source ${s.source} is listed twice` });
    seenSources.add(s.source);
  });
  const transforms = new Map<string, number>();
  (spec.transforms ?? []).forEach((t, i) => {
    if (transforms.has(t.name))
      issues.push({ path: `/transforms/${i}/name`, code: 'Duplicate', message: `transform ${t.name} is listed twice` });
    transforms.set(t.name, t.version);
    // Both are what loadPipelineSpecFile hands on (the file inlined, with its hash); written by hand, it is a conflict.
    const inlined = t.sql !== undefined && t.sqlSha256 === sha256Hex(t.sql);
    if (t.sql !== undefined && t.sqlFile !== undefined && !inlined)
      issues.push({ path: `/transforms/${i}/sql`, code: 'Conflict', message: 'give the SQL as sqlFile or as sql, not both' });
    (t.sources ?? []).forEach((s, j) => {
      if (!sources.has(s))
        issues.push({
          path: `/transforms/${i}/sources/${j}`,
          code: 'UnknownReference',
          message: `${s} is not one of the pipeline's sources`,
        });
    });
  });
  const on = spec.validation?.on;
  if (on && 'log' in on && !sources.has(on.log))
    issues.push({ path: '/validation/on/log', code: 'UnknownReference', message: `${on.log} is not one of the pipeline's sources` });
  if (on && 'table' in on && !transforms.has(on.table))
    issues.push({ path: '/validation/on/table', code: 'UnknownReference', message: `${on.table} is not one of the pipeline's transforms` });
  if (spec.dataset && !transforms.has(spec.dataset.transform))
    issues.push({
      path: '/dataset/transform',
      code: 'UnknownReference',
      message: `${spec.dataset.transform} is not one of the pipeline's transforms (${[...transforms.keys()].join(', ') || 'none'})`,
    });
  if (spec.train && !spec.dataset)
    issues.push({ path: '/train', code: 'MissingDependency', message: 'train needs a dataset section to train on' });
  if (spec.deploy && !spec.train)
    issues.push({ path: '/deploy', code: 'MissingDependency', message: 'deploy needs a train section to deploy from' });
  const split = spec.dataset?.spec.split;
  if (split && split.train !== undefined && split.validation !== undefined && split.test !== undefined) {
    const sum = split.train + split.validation + split.test;
    if (Math.abs(sum - 1) > 1e-9)
      issues.push({ path: '/dataset/spec/split', code: 'SplitSum', message: `train + validation + test must add up to 1, not ${sum}` });
  }
  const names = new Set<string>();
  (spec.schedules ?? []).forEach((s, i) => {
    if (names.has(s.name)) issues.push({ path: `/schedules/${i}/name`, code: 'Duplicate', message: `schedule ${s.name} is listed twice` });
    names.add(s.name);
  });
  return issues;
}

/**
 * Checks a spec value (from any file format, or a TypeScript object) against the declaration and
 * its references. `doc`/`lines` map pointers to lines when the value came from text.
 */
export function checkPipelineSpec(value: unknown, file = '(object)', doc?: Document, lines?: LineCounter): SpecResult {
  const at = (i: { path: string; code: string; message: string }): SpecIssue => ({ file, ...positionOf(doc, lines, i.path), ...i });
  const r = checkValue(PipelineSpecSchema, value);
  if (!r.ok) return { ok: false, issues: r.issues.map(at) };
  const refs = referenceIssues(r.value);
  if (refs.length > 0) return { ok: false, issues: refs.map(at) };
  return { ok: true, spec: r.value, sha256: pipelineSpecSha256(r.value) };
}

/** Parses and checks spec text; `.json` is parsed as strict JSON, anything else as YAML (JSON is YAML too). */
export function parsePipelineSpecText(text: string, file: string): SpecResult {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const syntax = doc.errors[0];
  if (syntax) {
    const p = lines.linePos(syntax.pos[0]);
    return {
      ok: false,
      issues: [{ file, line: p.line, column: p.col, path: '', code: 'Syntax', message: syntax.message.split('\n')[0] ?? 'syntax error' }],
    };
  }
  let value: unknown;
  if (file.endsWith('.json')) {
    try {
      value = JSON.parse(text);
    } catch (err) {
      return { ok: false, issues: [{ file, line: 1, column: 1, path: '', code: 'Syntax', message: (err as Error).message }] };
    }
  } else value = doc.toJS({ maxAliasCount: 100 });
  return checkPipelineSpec(value, file, doc, lines);
}

/**
 * Reads a spec file (YAML, JSON, or a .ts/.js module whose default export is the spec), checks it,
 * and inlines each transform's `sqlFile` (relative to the spec) as `sql` + `sqlSha256`, so that the
 * stored version holds everything a run needs. The result's sha256 covers the inlined SQL.
 */
export function loadPipelineSpecFile(file: string): SpecResult {
  const display = path.relative(process.cwd(), file) || file;
  let parsed: SpecResult;
  if (/\.(ts|js|cjs|mts|mjs)$/.test(file)) {
    let mod: { default?: unknown; spec?: unknown };
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      mod = require(path.resolve(file)) as { default?: unknown; spec?: unknown };
    } catch (err) {
      return { ok: false, issues: [{ file: display, line: 0, column: 0, path: '', code: 'Unreadable', message: (err as Error).message }] };
    }
    parsed = checkPipelineSpec(mod.default ?? mod.spec, display);
  } else {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      return { ok: false, issues: [{ file: display, line: 0, column: 0, path: '', code: 'Unreadable', message: (err as Error).message }] };
    }
    parsed = parsePipelineSpecText(text, display);
  }
  if (!parsed.ok) return parsed;
  const issues: SpecIssue[] = [];
  const transforms = (parsed.spec.transforms ?? []).map((t, i) => {
    if (t.sqlFile === undefined) return t.sql === undefined ? t : { ...t, sqlSha256: sha256Hex(t.sql) };
    const sqlPath = path.resolve(path.dirname(file), t.sqlFile);
    try {
      const sql = fs.readFileSync(sqlPath, 'utf8');
      return { ...t, sql, sqlSha256: sha256Hex(sql) };
    } catch (err) {
      issues.push({
        file: display,
        line: 0,
        column: 0,
        path: `/transforms/${i}/sqlFile`,
        code: 'Unreadable',
        message: (err as Error).message,
      });
      return t;
    }
  });
  if (issues.length > 0) return { ok: false, issues };
  const spec: PipelineSpec = parsed.spec.transforms ? { ...parsed.spec, transforms } : parsed.spec;
  return { ok: true, spec, sha256: pipelineSpecSha256(spec) };
}

/** The published JSON Schema of a pipeline spec (the declaration without TypeBox's symbols). */
export function publishedPipelineSchemaText(): string {
  const body = JSON.parse(JSON.stringify(PipelineSpecSchema)) as Record<string, unknown>;
  return `${JSON.stringify({ $schema: 'https://json-schema.org/draft/2020-12/schema', ...body }, null, 2)}\n`;
}
