/**
 * The one check of a workflow input against its declaration, used by the client before it starts a
 * workflow, by the workflow's first activity, and by update/signal validators inside the workflow
 * sandbox. TypeBox's `Value` checker interprets the schema (no code generation), so it runs
 * unchanged in all three places; other languages validate the same schema from
 * contracts/workflows/<name>.input.json.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors';
import { Value } from '@sinclair/typebox/value';
import type { WorkflowDef } from './workflows/define';

export interface InputIssue {
  /** JSON pointer into the input ("" for the input itself). */
  path: string;
  /** What kind of rule it broke, e.g. StringPattern, ObjectRequiredProperty. */
  code: string;
  message: string;
}

export type CheckResult<T> = { ok: true; value: T } | { ok: false; issues: InputIssue[] };

const MAX_ISSUES = 20;

function issueOf(e: ValueError): InputIssue {
  return { path: e.path, code: ValueErrorType[e.type] ?? String(e.type), message: e.message };
}

/**
 * A union of objects told apart by `kind` fails as a whole ("Expected union value"); the useful
 * issues are those of the variant whose `kind` the value names, or else the closest variant.
 */
function explainUnion(e: ValueError): InputIssue[] {
  let best: InputIssue[] | undefined;
  for (const variant of e.errors) {
    const issues = [...variant].map(issueOf);
    const kindMatches = !issues.some((i) => i.path === `${e.path}/kind`);
    if (kindMatches && issues.length > 0) return issues;
    if (!best || issues.length < best.length) best = issues;
  }
  return best && best.length > 0 ? best : [issueOf(e)];
}

/** Checks `value` against `schema`; the issues name each bad field by JSON pointer. */
export function checkValue<S extends TSchema>(schema: S, value: unknown): CheckResult<Static<S>> {
  if (Value.Check(schema, value)) return { ok: true, value: value as Static<S> };
  const issues: InputIssue[] = [];
  for (const e of Value.Errors(schema, value)) {
    issues.push(...(e.type === ValueErrorType.Union ? explainUnion(e) : [issueOf(e)]));
    if (issues.length >= MAX_ISSUES) break;
  }
  return { ok: false, issues };
}

/** Checks a workflow's input against its declaration. */
export function checkWorkflowInput<D extends WorkflowDef>(def: D, input: unknown): CheckResult<Static<D['input']>> {
  return checkValue(def.input, input);
}

export function describeIssues(issues: InputIssue[]): string {
  return issues.map((i) => `${i.path || '(input)'}: ${i.message}`).join('; ');
}
