/**
 * Workflow inputs are contracts too. Each public workflow's input is declared once in
 * api/workflows (TypeBox); contracts/workflows/<name>.input.json is that declaration published as
 * JSON Schema (draft 2020-12) for services in other languages. `npm run schemas` writes the files;
 * a test fails when a committed file differs from its declaration.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { workflows, type WorkflowName } from '../api/workflows';
import type { WorkflowDef } from '../api/workflows/define';

export const WORKFLOW_INPUTS_DIR = path.join(__dirname, 'workflows');
export const JSON_SCHEMA_DIALECT = 'https://json-schema.org/draft/2020-12/schema';

/** The published JSON Schema of a workflow's input (TypeBox's schema without its symbols, with a title). */
export function publishedInputSchema(def: WorkflowDef): Record<string, unknown> {
  const body = JSON.parse(JSON.stringify(def.input)) as Record<string, unknown>;
  return { $schema: JSON_SCHEMA_DIALECT, title: def.title, description: def.description, ...body };
}

/** The file text of a workflow's published input schema. */
export function publishedInputSchemaText(def: WorkflowDef): string {
  return `${JSON.stringify(publishedInputSchema(def), null, 2)}\n`;
}

export function inputSchemaPath(name: string): string {
  return path.join(WORKFLOW_INPUTS_DIR, `${name}.input.json`);
}

/** Workflow types with a published input schema file. */
export function workflowsWithInputSchemas(): string[] {
  return fs
    .readdirSync(WORKFLOW_INPUTS_DIR)
    .filter((f) => f.endsWith('.input.json'))
    .map((f) => f.replace(/\.input\.json$/, ''))
    .sort();
}

/** Writes every declared workflow's schema file and removes files of workflows no longer declared; returns what changed. */
export function writeInputSchemas(): { written: string[]; removed: string[] } {
  const written: string[] = [];
  for (const name of Object.keys(workflows) as WorkflowName[]) {
    const file = inputSchemaPath(name);
    const text = publishedInputSchemaText(workflows[name]);
    if (!fs.existsSync(file) || fs.readFileSync(file, 'utf8') !== text) {
      fs.writeFileSync(file, text);
      written.push(file);
    }
  }
  const removed = workflowsWithInputSchemas()
    .filter((name) => !Object.hasOwn(workflows, name))
    .map((name) => inputSchemaPath(name));
  for (const file of removed) fs.unlinkSync(file);
  return { written, removed };
}
