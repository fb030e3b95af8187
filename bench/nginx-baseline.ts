import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SpawnedProcess } from './spawned-process';
import { TARGET_PATH } from './target-app';
import { waitForStatus } from './wait-for-status';

/**
 * nginx as a second baseline, when installed: a C reverse proxy tuned for the same job (one hop,
 * keep-alive upstream, streaming both ways).
 */

/** The path of the nginx binary, or null when it is not installed. */
export function findNginx(): string | null {
  try {
    return execFileSync('which', ['nginx'], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

/**
 * The configuration: everything under a temporary prefix, loopback only. One process
 * (`master_process off`) so that its CPU and memory are one /proc entry, like the Node proxy's.
 * Buffering is off in both directions so nginx streams as standin must.
 */
function nginxConfig(listenPort: number, targetPort: number): string {
  return `
daemon off;
master_process off;
worker_processes 1;
pid nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path client_body;
  proxy_temp_path proxy_temp;
  fastcgi_temp_path fastcgi_temp;
  uwsgi_temp_path uwsgi_temp;
  scgi_temp_path scgi_temp;
  keepalive_requests 1000000;
  upstream target {
    server 127.0.0.1:${targetPort};
    keepalive 64;
  }
  server {
    listen 127.0.0.1:${listenPort};
    client_max_body_size 0;
    location / {
      proxy_pass http://target;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_request_buffering off;
      proxy_buffering off;
      proxy_read_timeout 300s;
      proxy_send_timeout 300s;
    }
  }
}
`;
}

/** A running nginx and the temporary directory it lives in. */
export interface NginxBaseline {
  readonly process: SpawnedProcess;
  readonly url: string;
  stop(): Promise<void>;
}

/** Starts nginx on `listenPort` in front of the target app and waits until it proxies. */
export async function startNginx(nginxPath: string, listenPort: number, targetPort: number): Promise<NginxBaseline> {
  const prefix = mkdtempSync(join(tmpdir(), 'standin-bench-nginx-'));
  const configPath = join(prefix, 'nginx.conf');
  writeFileSync(configPath, nginxConfig(listenPort, targetPort));
  const process = SpawnedProcess.start('nginx', nginxPath, ['-p', prefix, '-c', configPath]);
  const url = `http://127.0.0.1:${listenPort}`;
  try {
    await waitForStatus(`${url}${TARGET_PATH.small}`, 200, 10_000, process);
  } catch (error) {
    await process.stop();
    rmSync(prefix, { recursive: true, force: true });
    throw error;
  }
  return {
    process,
    url,
    async stop() {
      await process.stop();
      rmSync(prefix, { recursive: true, force: true });
    },
  };
}
