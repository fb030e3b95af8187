/**
 * Tunnel-name globs of a tokens-file user (`alice`, `alice-*`, `shop-?`): `*` is any run of
 * name characters, `?` one of them. Names are DNS labels, so nothing else needs escaping.
 */

/** Compiles a glob into a test for tunnel names. */
export function compileNameGlob(glob: string): (name: string) => boolean {
  const source = glob
    .toLowerCase()
    .split('')
    .map((char) => (char === '*' ? '[a-z0-9-]*' : char === '?' ? '[a-z0-9-]' : char.replace(/[^a-z0-9-]/g, '\\$&')))
    .join('');
  const pattern = new RegExp(`^${source}$`);
  return (name) => pattern.test(name);
}

/** The names a user may register when the tokens file lists none: `<user>` and `<user>-*`. */
export function defaultNameGlobs(user: string): string[] {
  const label = user
    .toLowerCase()
    .replace(/@.*$/, '')
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return [label, `${label}-*`];
}
