/** Helpers for tests that play a browser's WebSocket with `ws`, each wait bounded. */

import WebSocket, { type RawData } from 'ws';

/** A message's text; `ws` hands a message as one Buffer, an ArrayBuffer or a list of fragments. */
export function messageText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString();
  if (Buffer.isBuffer(data)) return data.toString();
  return Buffer.from(data).toString();
}

/** Opens a WebSocket; rejects when the upgrade is refused or fails. */
export function openWebSocket(url: string, protocols?: string[], headers?: Record<string, string>): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { perMessageDeflate: true, handshakeTimeout: 15_000, headers });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused with ${res.statusCode}`)));
  });
}

/** The next text message on `ws`. */
export function nextMessage(ws: WebSocket, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no message within ${timeoutMs} ms`)), timeoutMs);
    ws.once('message', (data) => {
      clearTimeout(timer);
      resolve(messageText(data));
    });
  });
}

/** Resolves with the close code and reason once `ws` is closed. */
export function closed(ws: WebSocket, timeoutMs = 10_000): Promise<{ code: number; reason: string }> {
  return new Promise((resolve, reject) => {
    if (ws.readyState === WebSocket.CLOSED) return resolve({ code: 1006, reason: '' });
    const timer = setTimeout(() => reject(new Error(`WebSocket not closed within ${timeoutMs} ms`)), timeoutMs);
    ws.on('error', () => undefined);
    ws.once('close', (code, reason) => {
      clearTimeout(timer);
      resolve({ code, reason: reason.toString() });
    });
  });
}
