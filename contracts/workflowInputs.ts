/**
 * Workflow inputs are contracts too: contracts/workflows/<workflowType>.input.json holds the JSON
 * Schema of each public workflow's input. The client checks it before starting a workflow, and the
 * workflow's first activity checks it again, so a service in another language that starts a
 * workflow with a bad input gets a non-retryable error naming the field.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import type { ValidationIssue, ValidationResult } from './registry';

export const WORKFLOW_INPUTS_DIR = path.join(__dirname, 'workflows');

const ajv = new Ajv2020({ strict: true, allErrors: true, $data: false });
addFormats(ajv);
const cache = new Map<string, ValidateFunction | null>();

function validatorFor(workflowType: string): ValidateFunction | null {
  if (cache.has(workflowType)) return cache.get(workflowType) ?? null;
  if (!/^[A-Za-z][A-Za-z0-9]*$/.test(workflowType)) throw new Error(`Not a workflow type: ${JSON.stringify(workflowType)}`);
  const file = path.join(WORKFLOW_INPUTS_DIR, `${workflowType}.input.json`);
  const fn = fs.existsSync(file) ? ajv.compile(JSON.parse(fs.readFileSync(file, 'utf8')) as object) : null;
  cache.set(workflowType, fn);
  return fn;
}

/** Workflow types that have an input schema. */
export function workflowsWithInputSchemas(): string[] {
  return fs.readdirSync(WORKFLOW_INPUTS_DIR).filter((f) => f.endsWith('.input.json')).map((f) => f.replace(/\.input\.json$/, '')).sort();
}

/** Checks a workflow input against its schema; a workflow without a schema is an error (every public workflow has one). */
export function validateWorkflowInput(workflowType: string, input: unknown): ValidationResult {
  const fn = validatorFor(workflowType);
  if (!fn) {
    return { ok: false, issues: [{ contract: `workflow:${workflowType}`, version: '-', pointer: '', keyword: 'schema', message: `no input schema for workflow ${workflowType} in contracts/workflows` }] };
  }
  if (fn(input)) return { ok: true };
  const issues: ValidationIssue[] = (fn.errors ?? []).map((e) => ({
    contract: `workflow:${workflowType}`,
    version: '-',
    pointer: e.keyword === 'required' ? `${e.instancePath}/${String((e.params as { missingProperty?: string }).missingProperty ?? '')}` : e.instancePath,
    keyword: e.keyword,
    message: e.message ?? e.keyword,
  }));
  return { ok: false, issues };
}

export function describeIssues(issues: ValidationIssue[]): string {
  return issues.map((i) => `${i.pointer || '(input)'} ${i.message}`).join('; ');
}
