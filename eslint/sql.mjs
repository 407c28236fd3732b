// @ts-check
/**
 * No SQL text built from values (issue #9, point 4; CONVENTIONS "SQL"): values are bound as $n,
 * identifiers go through quoteIdent (db/sql.ts), and what is spliced into SQL text is otherwise
 * code: literals and constants whose text is known where they are declared.
 *
 * SQL text is the first argument of a `.query(...)` call (pg's Client, Pool and PoolClient; or the
 * `text` of its config object), the argument of pg-copy-streams' `from(...)`/`to(...)`, and any
 * template literal that starts with an SQL command word (`SELECT …`, `SET LOCAL …`), wherever it is
 * built. In such text every `${…}` and every operand of `+` must be one of:
 * - a string or number literal, or a template literal of such pieces;
 * - `quoteIdent(…)`, or a call of a function named in the option `identifierHelpers` (such as
 *   `derivedTable(name, version)`): where such a function is declared, every value it returns
 *   must itself be text of these pieces, so the helper is checked, not trusted;
 * - an identifier bound to a `const` whose initializer is itself such a piece (a module-level
 *   fragment of SQL, or a local `const table = quoteIdent(name)`), or a member of a `const`
 *   object whose values all are (`LEVELS[level]`);
 * - a `$n` placeholder's number: right after a `$`, a numeric literal or arithmetic of numbers
 *   and identifiers with `*`, `-`, `/` or `%` (always a number), or `+` with a numeric literal
 *   (`$${i + 1}` where `i` counts parameters).
 * An identifier or parameter passed as the whole text is not followed further (its own
 * declaration is checked where it is built).
 */

/** SQL command words a template literal may start with to be read as SQL text. */
const SQL_START =
  /^\s*(?:SELECT|INSERT|UPDATE|DELETE|WITH|CREATE|ALTER|DROP|SET|RESET|COPY|BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|LOCK|GRANT|REVOKE|TRUNCATE|CALL|DO|EXPLAIN|ANALYZE|VACUUM|REINDEX|REFRESH|COMMENT|DECLARE|FETCH|LISTEN|NOTIFY|PREPARE|EXECUTE|DEALLOCATE|DISCARD)\b/;

/**
 * @param {any} node
 * @returns {any}
 */
function unwrap(node) {
  let n = node;
  while (
    n &&
    (n.type === 'TSAsExpression' ||
      n.type === 'TSNonNullExpression' ||
      n.type === 'TSSatisfiesExpression' ||
      n.type === 'ParenthesizedExpression')
  )
    n = n.expression;
  return n;
}

/** @type {import('eslint').Rule.RuleModule} */
const sqlValuesBoundRule = {
  meta: {
    type: 'problem',
    docs: { description: 'SQL text holds no value: values are bound as $n, identifiers quoted with quoteIdent' },
    schema: [
      {
        type: 'object',
        properties: { identifierHelpers: { type: 'array', items: { type: 'string' }, uniqueItems: true } },
        additionalProperties: false,
      },
    ],
    messages: {
      unbound:
        'SQL text built from `{{expr}}`: bind it as a $n parameter (a value) or quote it with quoteIdent() from db/sql.ts (an identifier).',
      helper: '{{name}} is an identifierHelper: it may return only text of quoteIdent() and constants, not `{{expr}}`.',
    },
  },
  create(context) {
    const source = context.sourceCode;
    /** Functions that return quoted identifiers (checked where they are declared). */
    const helpers = new Set(['quoteIdent', ...(context.options[0]?.identifierHelpers ?? [])]);
    /** Local names of pg-copy-streams' from/to, and its namespace imports. */
    const copyFunctions = new Set();
    const copyNamespaces = new Set();
    /** Template literals already checked as the text of a call (not reported twice). */
    const checked = new WeakSet();

    /** @param {any} node */
    const text = (node) => {
      const t = source.getText(node);
      return t.length > 80 ? `${t.slice(0, 77)}...` : t;
    };

    /**
     * The const declarator that binds `id`, or undefined (let, var, a parameter, an import, unknown).
     * @param {any} id
     */
    function constDeclarator(id) {
      let scope = source.getScope(id);
      while (scope) {
        const variable = scope.set.get(id.name);
        if (variable) {
          const def = variable.defs[0];
          if (variable.defs.length === 1 && def?.type === 'Variable' && def.parent?.kind === 'const' && def.node.id.type === 'Identifier')
            return def.node;
          return undefined;
        }
        scope = scope.upper;
      }
      return undefined;
    }

    /**
     * True when the expression is text known from code (see the header).
     * @param {any} raw
     * @param {Set<any>} seen
     */
    function isSafe(raw, seen = new Set()) {
      const node = unwrap(raw);
      if (!node) return false;
      switch (node.type) {
        case 'Literal':
          return typeof node.value === 'string' || typeof node.value === 'number';
        case 'TemplateLiteral':
          return node.expressions.every((/** @type {any} */ e, /** @type {number} */ i) => isSafeInterpolation(node, i, e, seen));
        case 'BinaryExpression':
          return node.operator === '+' && isSafe(node.left, seen) && isSafe(node.right, seen);
        case 'ConditionalExpression':
          return isSafe(node.consequent, seen) && isSafe(node.alternate, seen);
        case 'CallExpression': {
          const callee = unwrap(node.callee);
          return (
            (callee.type === 'Identifier' && helpers.has(callee.name)) ||
            (callee.type === 'MemberExpression' && !callee.computed && helpers.has(callee.property.name))
          );
        }
        case 'MemberExpression': {
          // A text from a const table of texts (`LEVELS[level]`, `MODES.share`).
          const table = unwrap(node.object);
          if (table.type !== 'Identifier' || seen.has(table.name)) return false;
          const init = unwrap(constDeclarator(table)?.init);
          if (init?.type !== 'ObjectExpression') return false;
          seen.add(table.name);
          return init.properties.every((/** @type {any} */ p) => p.type === 'Property' && !p.computed && isSafe(p.value, seen));
        }
        case 'Identifier': {
          if (seen.has(node.name)) return false;
          const decl = constDeclarator(node);
          if (!decl?.init) return false;
          seen.add(node.name);
          return isSafe(decl.init, seen);
        }
        default:
          return false;
      }
    }

    /**
     * A number for a `$n` placeholder: a numeric literal, or arithmetic that gives a number (`*`,
     * `-`, `/`, `%` of numbers, identifiers and `.length`; `+` only with a numeric literal on one side).
     * @param {any} raw
     * @returns {boolean}
     */
    function isPlaceholderNumber(raw) {
      const n = unwrap(raw);
      const numberLiteral = (/** @type {any} */ x) => unwrap(x).type === 'Literal' && typeof unwrap(x).value === 'number';
      const operand = (/** @type {any} */ x) => {
        const o = unwrap(x);
        return (
          o.type === 'Identifier' ||
          (o.type === 'MemberExpression' && !o.computed && o.property.name === 'length') ||
          isPlaceholderNumber(o)
        );
      };
      if (numberLiteral(n)) return true;
      if (n.type !== 'BinaryExpression') return false;
      if (['*', '-', '/', '%'].includes(n.operator)) return operand(n.left) && operand(n.right);
      return n.operator === '+' && operand(n.left) && operand(n.right) && (numberLiteral(n.left) || numberLiteral(n.right));
    }

    /**
     * @param {any} template @param {number} i @param {any} expr @param {Set<any>} seen
     */
    function isSafeInterpolation(template, i, expr, seen) {
      if (isSafe(expr, seen)) return true;
      const before = template.quasis[i]?.value.cooked ?? '';
      return before.endsWith('$') && isPlaceholderNumber(expr);
    }

    /**
     * Reports each piece of SQL text `node` that is not known from code.
     * @param {any} raw
     */
    function checkText(raw) {
      const node = unwrap(raw);
      if (!node) return;
      if (node.type === 'TemplateLiteral') {
        checked.add(node);
        node.expressions.forEach((/** @type {any} */ e, /** @type {number} */ i) => {
          if (!isSafeInterpolation(node, i, e, new Set())) context.report({ node: e, messageId: 'unbound', data: { expr: text(e) } });
        });
      } else if (node.type === 'BinaryExpression' && node.operator === '+') {
        for (const side of [unwrap(node.left), unwrap(node.right)]) {
          if (['TemplateLiteral', 'BinaryExpression', 'ConditionalExpression'].includes(side.type)) checkText(side);
          else if (!isSafe(side)) context.report({ node: side, messageId: 'unbound', data: { expr: text(side) } });
        }
      } else if (node.type === 'ConditionalExpression') {
        checkText(node.consequent);
        checkText(node.alternate);
      } else if (node.type === 'Identifier') {
        // A const built elsewhere is checked at its template (if it starts as SQL) or here.
        const decl = constDeclarator(node);
        const init = decl?.init && unwrap(decl.init);
        if (init && (init.type === 'TemplateLiteral' || init.type === 'BinaryExpression')) checkDeclared(init, new Set([node.name]));
      }
    }

    /**
     * Text declared elsewhere: templates are checked where they are; concatenations through here.
     * @param {any} init @param {Set<string>} seen
     */
    function checkDeclared(init, seen) {
      if (init.type === 'TemplateLiteral') {
        if (!checked.has(init)) checkText(init);
        return;
      }
      if (init.type === 'BinaryExpression' && init.operator === '+') {
        for (const side of [unwrap(init.left), unwrap(init.right)]) {
          if (side.type === 'BinaryExpression' || side.type === 'TemplateLiteral') checkDeclared(side, seen);
          else if (!isSafe(side, new Set(seen))) context.report({ node: side, messageId: 'unbound', data: { expr: text(side) } });
        }
      }
    }

    /** @param {any} call */
    function isCopyCall(call) {
      const callee = unwrap(call.callee);
      if (callee.type === 'Identifier') return copyFunctions.has(callee.name);
      return (
        callee.type === 'MemberExpression' &&
        !callee.computed &&
        ['from', 'to'].includes(callee.property.name) &&
        callee.object.type === 'Identifier' &&
        copyNamespaces.has(callee.object.name)
      );
    }

    /**
     * The function whose body holds `node`, when it is an identifier helper (not quoteIdent itself,
     * which is the allow-list).
     * @param {any} node
     */
    function helperAround(node) {
      for (let n = node.parent; n; n = n.parent) {
        if (n.type === 'FunctionDeclaration') return n.id && n.id.name !== 'quoteIdent' && helpers.has(n.id.name) ? n.id.name : undefined;
        if (n.type === 'FunctionExpression' || n.type === 'ArrowFunctionExpression') {
          const d = n.parent;
          return d?.type === 'VariableDeclarator' && d.id.type === 'Identifier' && d.id.name !== 'quoteIdent' && helpers.has(d.id.name)
            ? d.id.name
            : undefined;
        }
      }
      return undefined;
    }

    /**
     * @param {string} name @param {any} value
     */
    function checkHelperResult(name, value) {
      const v = unwrap(value);
      if (v.type === 'TemplateLiteral') {
        checked.add(v);
        v.expressions.forEach((/** @type {any} */ e, /** @type {number} */ i) => {
          if (!isSafeInterpolation(v, i, e, new Set())) context.report({ node: e, messageId: 'helper', data: { name, expr: text(e) } });
        });
      } else if (!isSafe(v)) context.report({ node: v, messageId: 'helper', data: { name, expr: text(v) } });
    }

    return {
      ReturnStatement(node) {
        const name = helperAround(node);
        if (name && node.argument) checkHelperResult(name, node.argument);
      },
      ArrowFunctionExpression(node) {
        if (node.body.type === 'BlockStatement') return;
        const d = node.parent;
        if (d?.type === 'VariableDeclarator' && d.id.type === 'Identifier' && d.id.name !== 'quoteIdent' && helpers.has(d.id.name))
          checkHelperResult(d.id.name, node.body);
      },
      ImportDeclaration(node) {
        if (node.source.value !== 'pg-copy-streams') return;
        for (const s of node.specifiers) {
          if (s.type === 'ImportSpecifier' && s.imported.type === 'Identifier' && ['from', 'to'].includes(s.imported.name))
            copyFunctions.add(s.local.name);
          else if (s.type === 'ImportNamespaceSpecifier' || s.type === 'ImportDefaultSpecifier') copyNamespaces.add(s.local.name);
        }
      },
      CallExpression(node) {
        const callee = unwrap(node.callee);
        const isQuery = callee.type === 'MemberExpression' && !callee.computed && callee.property.name === 'query';
        if (!isQuery && !isCopyCall(node)) return;
        const first = unwrap(node.arguments[0]);
        if (!first) return;
        if (first.type === 'ObjectExpression') {
          const textProp = first.properties.find(
            (/** @type {any} */ p) => p.type === 'Property' && !p.computed && p.key.type === 'Identifier' && p.key.name === 'text',
          );
          if (textProp) checkText(textProp.value);
          return;
        }
        checkText(first);
      },
      // SQL built away from the call (a statement pushed to a list, a helper's return value).
      'TemplateLiteral:exit'(node) {
        // Not a tagged template, nor the message of `new Error(...)` ("COPY row has ...").
        if (checked.has(node) || node.parent?.type === 'TaggedTemplateExpression' || node.parent?.type === 'NewExpression') return;
        if (!SQL_START.test(node.quasis[0]?.value.cooked ?? '')) return;
        checkText(node);
      },
    };
  },
};

export default { rules: { 'sql-values-bound': sqlValuesBoundRule } };
