// @ts-check
/**
 * sluice's layering, enforced: one direction of imports, ground floor first
 * (docs/architecture.md, "Layers"). A module may import from its own floor and the floors below;
 * never from above. workflows/ runs in Temporal's sandbox: from below it takes values only from
 * api/ (types from anywhere below).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Floor of each top-level folder; a higher number is a higher floor. */
export const FLOORS = {
  api: 0,
  config: 1,
  db: 2,
  contracts: 2,
  activities: 3,
  workflows: 4,
  client: 5,
  workers: 6,
  scripts: 7,
  test: 8,
};

/** Folders whose values workflow code may import at run time. */
const SANDBOX_SAFE = new Set(['api', 'workflows']);

/** @param {string} file absolute path; @param {string} root */
function folderOf(file, root) {
  const rel = path.relative(root, file);
  if (rel.startsWith('..') || path.isAbsolute(rel)) return undefined;
  const top = rel.split(path.sep)[0];
  return top && Object.hasOwn(FLOORS, top) ? top : undefined;
}

/** @type {import('eslint').Rule.RuleModule} */
const layersRule = {
  meta: {
    type: 'problem',
    docs: { description: 'imports go down the floors of sluice, never up' },
    schema: [],
    messages: {
      up: '{{from}}/ (floor {{fromFloor}}) may not import {{to}}/ (floor {{toFloor}}): imports go down the floors api/config → db, contracts → activities → workflows → client → workers → scripts.',
      sandbox:
        'workflows/ may import values only from api/ and workflows/ (it runs in the Temporal sandbox); import {{to}}/ with `import type`.',
    },
  },
  create(context) {
    const root = context.cwd;
    const from = folderOf(context.filename, root);
    if (!from) return {};
    /** @param {any} node @param {string} source @param {boolean} typeOnly */
    function check(node, source, typeOnly) {
      if (!source.startsWith('.')) return;
      const to = folderOf(path.resolve(path.dirname(context.filename), source), root);
      if (!to || to === from) return;
      const fromFloor = FLOORS[/** @type {keyof typeof FLOORS} */ (from)];
      const toFloor = FLOORS[/** @type {keyof typeof FLOORS} */ (to)];
      if (toFloor > fromFloor) {
        context.report({ node, messageId: 'up', data: { from, to, fromFloor: String(fromFloor), toFloor: String(toFloor) } });
      } else if (from === 'workflows' && !typeOnly && !SANDBOX_SAFE.has(to)) {
        context.report({ node, messageId: 'sandbox', data: { to } });
      }
    }
    /** @param {any} node */
    const typeOnly = (node) =>
      node.importKind === 'type' ||
      node.exportKind === 'type' ||
      (node.specifiers?.length > 0 && node.specifiers.every((/** @type {any} */ s) => s.importKind === 'type' || s.exportKind === 'type'));
    return {
      ImportDeclaration: (node) => check(node, String(node.source.value), typeOnly(node)),
      ExportNamedDeclaration: (node) => node.source && check(node, String(node.source.value), typeOnly(node)),
      ExportAllDeclaration: (node) => check(node, String(node.source.value), node.exportKind === 'type'),
      ImportExpression: (node) => node.source.type === 'Literal' && check(node, String(node.source.value), false),
    };
  },
};

/** Relative module specifiers of a file (imports, re-exports, dynamic imports; type-only ones too). */
const SPECIFIER =
  /(?:^|[\s;])(?:import|export)\s+(?:type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g;

/** @type {Map<string, { mtimeMs: number, deps: string[] }>} */
const depsCache = new Map();

/** @param {string} from @param {string} spec */
function resolveModule(from, spec) {
  const base = path.resolve(path.dirname(from), spec);
  for (const candidate of [base, `${base}.ts`, `${base}.js`, path.join(base, 'index.ts'), path.join(base, 'index.js')]) {
    try {
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not this candidate; try the next
    }
  }
  return undefined;
}

/** @param {string} file @param {string} [text] */
function depsOf(file, text) {
  if (text === undefined) {
    let stat;
    try {
      stat = fs.statSync(file);
    } catch {
      return [];
    }
    const hit = depsCache.get(file);
    if (hit && hit.mtimeMs === stat.mtimeMs) return hit.deps;
    text = fs.readFileSync(file, 'utf8');
    const deps = parseDeps(file, text);
    depsCache.set(file, { mtimeMs: stat.mtimeMs, deps });
    return deps;
  }
  return parseDeps(file, text);
}

/** @param {string} file @param {string} text */
function parseDeps(file, text) {
  const deps = new Set();
  for (const m of text.matchAll(SPECIFIER)) {
    const resolved = resolveModule(file, m[1] ?? m[2] ?? '');
    if (resolved && !resolved.includes(`${path.sep}node_modules${path.sep}`)) deps.add(resolved);
  }
  return [...deps];
}

/**
 * No import cycle between sluice's modules, type-only imports included: a cycle of types still
 * ties two modules into one (import-x/no-cycle skips type imports, hence this rule).
 * @type {import('eslint').Rule.RuleModule}
 */
const noCycleRule = {
  meta: {
    type: 'problem',
    docs: { description: 'no import cycle between modules, type-only imports included' },
    schema: [],
    messages: { cycle: 'Import cycle: {{cycle}}' },
  },
  create(context) {
    const file = context.filename;
    const root = context.cwd;
    return {
      'Program:exit'() {
        const rel = (/** @type {string} */ f) => path.relative(root, f);
        for (const start of depsOf(file, context.sourceCode.text)) {
          // Depth-first search for a path from `start` back to this file.
          /** @type {Map<string, string | null>} */
          const parent = new Map([[start, null]]);
          const stack = [start];
          while (stack.length > 0) {
            const current = /** @type {string} */ (stack.pop());
            if (current === file) {
              const route = [];
              for (let at = parent.get(current); at; at = parent.get(at) ?? null) route.unshift(rel(at));
              context.report({
                loc: { line: 1, column: 0 },
                messageId: 'cycle',
                data: { cycle: [rel(file), ...route, rel(file)].join(' → ') },
              });
              return;
            }
            for (const next of depsOf(current)) {
              if (!parent.has(next)) {
                parent.set(next, current);
                stack.push(next);
              }
            }
          }
        }
      },
    };
  },
};

export default { rules: { layers: layersRule, 'no-import-cycle': noCycleRule } };
