/**
 * SQL text from names: the one way sluice puts an identifier into SQL. Values are always bound
 * parameters; identifiers pass an allow-list and are double-quoted here.
 */

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** A name that may not become a PostgreSQL identifier. */
export class InvalidIdentifierError extends Error {
  constructor(readonly identifier: string) {
    super(`Not an allowed SQL identifier: ${JSON.stringify(identifier)} (letters, digits and _, at most 63, not starting with a digit)`);
    this.name = 'InvalidIdentifierError';
  }
}

export function isIdentifier(name: string): boolean {
  return IDENTIFIER.test(name);
}

/** Double-quotes an identifier that passes the allow-list; throws {@link InvalidIdentifierError} otherwise. */
export function quoteIdent(name: string): string {
  if (!IDENTIFIER.test(name)) throw new InvalidIdentifierError(name);
  return `"${name}"`;
}
