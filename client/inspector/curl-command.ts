/**
 * "Copy as curl": a POSIX shell command that sends a captured request to the local app again,
 * byte for byte as the app got it the first time (method, path, headers in order, body).
 *
 * Everything from the request is hostile: a header value such as `$(rm -rf ~)` or a path with a
 * quote must stay data. So every argument is single-quoted (inside single quotes the shell
 * interprets nothing; a quote itself is written as '\''), curl gets each value as the argument
 * of an explicit option (`--url`, `--data-raw`, so a value starting with `-` or `@` is not read
 * as an option or a file name), and a body that is not plain text goes through printf as octal
 * escapes, because a shell argument cannot carry a NUL byte.
 */

import { HOP_BY_HOP_HEADERS } from '#shared/http-headers';
import type { RequestRecord } from './request-capture';

/** Headers curl adds by itself unless told otherwise; an absent one is removed with `-H 'Name:'`. */
const CURL_DEFAULT_HEADERS = ['Accept', 'User-Agent'];

/** Where the command sends the request: the app the tunnel forwards to. */
export interface CurlTarget {
  target: URL;
}

/** The command, one option per line; a leading `#` line says when the body could not be included. */
export function curlCommand(record: RequestRecord, { target }: CurlTarget): string {
  const lines: string[] = [];
  const bodyWasCut = record.bytesIn > record.requestPreview.length;
  const body = bodyWasCut ? Buffer.alloc(0) : record.requestPreview;
  const options: string[] = ['--globoff', '--path-as-is'];
  options.push(record.method === 'HEAD' ? '--head' : `--request ${shellQuote(record.method)}`);
  options.push(`--url ${shellQuote(target.origin + record.path)}`);
  const present = new Set<string>();
  for (let i = 0; i < record.requestHeaders.length; i += 2) {
    const [name, value] = [record.requestHeaders[i], record.requestHeaders[i + 1]];
    const lower = name.toLowerCase();
    // curl frames the body itself (Content-Length from the data; no chunking of a known body).
    if (HOP_BY_HOP_HEADERS.has(lower) || lower === 'content-length') continue;
    present.add(lower);
    // `Name:` would remove the header in curl; `Name;` is curl's way to send it empty.
    options.push(`--header ${shellQuote(value === '' ? `${name};` : `${name}: ${value}`)}`);
  }
  for (const name of CURL_DEFAULT_HEADERS) if (!present.has(name.toLowerCase())) options.push(`--header ${shellQuote(`${name}:`)}`);
  let stdin: string | undefined;
  if (body.length > 0) {
    // Without a Content-Type, curl would add application/x-www-form-urlencoded to a body.
    if (!present.has('content-type')) options.push(`--header ${shellQuote('Content-Type:')}`);
    if (isPlainText(body)) options.push(`--data-raw ${shellQuote(body.toString('utf8'))}`);
    else {
      stdin = `printf ${shellQuote(printfFormat(body))}`;
      options.push('--data-binary @-');
    }
  }
  if (bodyWasCut) {
    lines.push(
      `# The request body was ${record.bytesIn} bytes; the inspector kept only the first ${record.requestPreview.length}, so this command sends none.`,
    );
  }
  lines.push([stdin ? `${stdin} | curl` : 'curl', ...options].join(' \\\n  '));
  return lines.join('\n') + '\n';
}

/** `text` as one single-quoted shell word: nothing inside is interpreted, a quote is closed, escaped and reopened. */
export function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** Valid UTF-8 without NUL or other control bytes than tab, CR and LF: safe as a shell argument and readable. */
function isPlainText(body: Buffer): boolean {
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/.test(body.toString('latin1'))) return false;
  return Buffer.from(body.toString('utf8'), 'utf8').equals(body);
}

/** A printf format that prints exactly `body`: printable ASCII as is, every other byte as a three-digit octal escape. */
function printfFormat(body: Buffer): string {
  let format = '';
  for (const byte of body) {
    const printable = byte >= 0x20 && byte < 0x7f && byte !== 0x25 /* % */ && byte !== 0x5c /* \ */ && byte !== 0x27; /* ' */
    format += printable ? String.fromCharCode(byte) : `\\${byte.toString(8).padStart(3, '0')}`;
  }
  return format;
}
