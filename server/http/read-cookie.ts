/** Reading one cookie from a Cookie header; its own module so the error page can use it without the routing code. */

/** The first value of cookie `name` in a Cookie header (RFC 6265 §5.4: `a=1; b=2`). */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const pair of header.split(';')) {
    const equals = pair.indexOf('=');
    if (equals < 0 || pair.slice(0, equals).trim() !== name) continue;
    return pair
      .slice(equals + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1');
  }
  return undefined;
}
