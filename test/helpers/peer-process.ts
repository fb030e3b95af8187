/**
 * Which process is on the other end of a loopback TCP connection (Linux /proc), so a test
 * "cluster service" can serve only the standin server process and refuse everyone else, the
 * test itself and the local app included: the proof that a call really went through the server.
 */

import fs from 'node:fs';
import type net from 'node:net';

/** Whether the peer of `socket` (a connection accepted on 127.0.0.1) is a socket held by process `pid`. */
export function isPeerProcess(socket: net.Socket, pid: number): boolean {
  const inode = peerSocketInode(socket);
  if (inode === undefined) return false;
  let fds: string[];
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`);
  } catch {
    return false;
  }
  return fds.some((fd) => {
    try {
      return fs.readlinkSync(`/proc/${pid}/fd/${fd}`) === `socket:[${inode}]`;
    } catch {
      return false;
    }
  });
}

/** The inode of the peer's end: the /proc/net/tcp row whose local port is our remote port and back. */
function peerSocketInode(socket: net.Socket): string | undefined {
  const hexPort = (port: number | undefined) => (port ?? 0).toString(16).toUpperCase().padStart(4, '0');
  const peerLocal = `:${hexPort(socket.remotePort)}`;
  const peerRemote = `:${hexPort(socket.localPort)}`;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let rows: string[];
    try {
      rows = fs.readFileSync(table, 'utf8').split('\n').slice(1);
    } catch {
      continue;
    }
    for (const row of rows) {
      const columns = row.trim().split(/\s+/);
      if (columns.length < 10) continue;
      if (columns[1].endsWith(peerLocal) && columns[2].endsWith(peerRemote)) return columns[9];
    }
  }
  return undefined;
}
