/** Command-line arguments of the `sluice` commands. */

/** The value after `--name` in `args` (undefined when the flag is absent or last). */
export function flag(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}
