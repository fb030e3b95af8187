/**
 * The ingress settings we publish are ones the controllers really read. An unknown annotation
 * is silently ignored by ingress-nginx, so a typo (or an annotation that never existed, like
 * nginx.ingress.kubernetes.io/client-body-timeout) leaves nginx's 60 s default in place and
 * hot-reload sockets die every minute, with no error anywhere.
 */

import fs from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';

const REPO_ROOT = path.resolve(__dirname, '../..');

/**
 * Every annotation ingress-nginx reads, from the table in its
 * docs/user-guide/nginx-configuration/annotations.md (kubernetes/ingress-nginx, main branch),
 * cross-checked with the constants in internal/ingress/annotations/proxy/main.go.
 */
const INGRESS_NGINX_ANNOTATIONS = new Set([
  'app-root',
  'affinity',
  'affinity-mode',
  'affinity-canary-behavior',
  'auth-realm',
  'auth-secret',
  'auth-secret-type',
  'auth-type',
  'auth-tls-secret',
  'auth-tls-verify-depth',
  'auth-tls-verify-client',
  'auth-tls-error-page',
  'auth-tls-pass-certificate-to-upstream',
  'auth-url',
  'auth-cache-key',
  'auth-cache-duration',
  'auth-proxy-set-headers',
  'auth-snippet',
  'enable-global-auth',
  'backend-protocol',
  'canary',
  'canary-by-header',
  'canary-by-header-value',
  'canary-by-header-pattern',
  'canary-by-cookie',
  'canary-weight',
  'canary-weight-total',
  'client-body-buffer-size',
  'configuration-snippet',
  'custom-http-errors',
  'default-backend',
  'enable-cors',
  'cors-allow-origin',
  'cors-allow-methods',
  'cors-allow-headers',
  'cors-expose-headers',
  'cors-allow-credentials',
  'cors-max-age',
  'force-ssl-redirect',
  'from-to-www-redirect',
  'http2-push-preload',
  'limit-connections',
  'limit-rps',
  'global-rate-limit',
  'global-rate-limit-window',
  'global-rate-limit-key',
  'global-rate-limit-ignored-cidrs',
  'permanent-redirect',
  'permanent-redirect-code',
  'temporal-redirect',
  'preserve-trailing-slash',
  'proxy-body-size',
  'proxy-cookie-domain',
  'proxy-cookie-path',
  'proxy-connect-timeout',
  'proxy-send-timeout',
  'proxy-read-timeout',
  'proxy-next-upstream',
  'proxy-next-upstream-timeout',
  'proxy-next-upstream-tries',
  'proxy-request-buffering',
  'proxy-redirect-from',
  'proxy-redirect-to',
  'proxy-http-version',
  'proxy-ssl-secret',
  'proxy-ssl-ciphers',
  'proxy-ssl-name',
  'proxy-ssl-protocols',
  'proxy-ssl-verify',
  'proxy-ssl-verify-depth',
  'proxy-ssl-server-name',
  'enable-rewrite-log',
  'rewrite-target',
  'satisfy',
  'server-alias',
  'server-snippet',
  'service-upstream',
  'session-cookie-name',
  'session-cookie-path',
  'session-cookie-change-on-failure',
  'session-cookie-samesite',
  'session-cookie-conditional-samesite-none',
  'ssl-redirect',
  'ssl-passthrough',
  'stream-snippet',
  'upstream-hash-by',
  'x-forwarded-prefix',
  'load-balance',
  'upstream-vhost',
  'whitelist-source-range',
  'proxy-buffering',
  'proxy-buffers-number',
  'proxy-buffer-size',
  'proxy-busy-buffers-size',
  'proxy-max-temp-file-size',
  'ssl-ciphers',
  'ssl-prefer-server-ciphers',
  'connection-proxy-header',
  'enable-access-log',
  'enable-opentracing',
  'opentracing-trust-incoming-span',
  'use-regex',
  'enable-modsecurity',
  'enable-owasp-core-rules',
  'modsecurity-transaction-id',
  'modsecurity-snippet',
  'mirror-request-body',
  'mirror-target',
]);

/** The controller-wide ConfigMap keys we use, from ingress-nginx's docs/user-guide/nginx-configuration/configmap.md. */
const INGRESS_NGINX_CONFIGMAP_KEYS = new Set([
  'client-body-timeout',
  'client-header-timeout',
  'proxy-read-timeout',
  'proxy-send-timeout',
  'proxy-body-size',
  'proxy-buffering',
  'proxy-request-buffering',
]);

/** Files that show ingress settings to users: manifests, examples, the README and docs/. */
function publishedFiles(): string[] {
  const files: string[] = [path.join(REPO_ROOT, 'README.md')];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (/\.(ya?ml|md)$/.test(entry.name)) files.push(full);
    }
  };
  walk(path.join(REPO_ROOT, 'k8s'));
  walk(path.join(REPO_ROOT, 'docs'));
  return files;
}

/** Annotation names under `prefix` in the text of `file` (YAML, or YAML blocks in Markdown). */
function annotationsIn(file: string, prefix: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const pattern = new RegExp(`${prefix.replaceAll('.', '\\.')}/([a-z0-9-]+)\\s*:`, 'g');
  return [...text.matchAll(pattern)].map((match) => match[1]);
}

test('every ingress-nginx annotation in the manifests, examples and docs is one ingress-nginx reads', () => {
  const unknown: string[] = [];
  let seen = 0;
  for (const file of publishedFiles()) {
    for (const name of annotationsIn(file, 'nginx.ingress.kubernetes.io')) {
      seen++;
      if (!INGRESS_NGINX_ANNOTATIONS.has(name)) unknown.push(`${path.relative(REPO_ROOT, file)}: nginx.ingress.kubernetes.io/${name}`);
    }
  }
  expect(seen).toBeGreaterThan(5);
  expect(unknown).toEqual([]);
});

test('the known-annotation list itself rejects the annotation that never existed', () => {
  expect(INGRESS_NGINX_ANNOTATIONS.has('client-body-timeout')).toBe(false);
  expect(INGRESS_NGINX_ANNOTATIONS.has('proxy-read-timeout')).toBe(true);
});

test('the ingress-nginx controller ConfigMap snippet sets client-body-timeout above the longest quiet stretch, with known keys only', () => {
  const [document] = parseAllDocuments(
    fs.readFileSync(path.join(REPO_ROOT, 'k8s/examples/ingress-nginx/controller-configmap.yaml'), 'utf8'),
  );
  const configMap = document.toJS() as { kind: string; data: Record<string, string> };
  expect(configMap.kind).toBe('ConfigMap');
  expect(Object.keys(configMap.data).filter((key) => !INGRESS_NGINX_CONFIGMAP_KEYS.has(key))).toEqual([]);
  expect(Number(configMap.data['client-body-timeout'])).toBeGreaterThanOrEqual(3600);
});

test('the Gateway API HTTPRoute example disables the request timeout on the control-plane route', () => {
  const [document] = parseAllDocuments(fs.readFileSync(path.join(REPO_ROOT, 'k8s/examples/gateway-api/httproute.yaml'), 'utf8'));
  const route = document.toJS() as {
    apiVersion: string;
    kind: string;
    spec: {
      rules: Array<{ timeouts?: { request?: string; backendRequest?: string }; backendRefs: Array<{ name: string; port: number }> }>;
    };
  };
  expect(route.apiVersion).toBe('gateway.networking.k8s.io/v1');
  expect(route.kind).toBe('HTTPRoute');
  for (const rule of route.spec.rules) {
    expect(rule.timeouts).toEqual({ request: '0s', backendRequest: '0s' });
    expect(rule.backendRefs).toEqual([{ name: 'standin', port: 8080 }]);
  }
});

test('the Traefik values lift the v3 read timeout on every entry point they name', () => {
  const [document] = parseAllDocuments(fs.readFileSync(path.join(REPO_ROOT, 'k8s/examples/traefik/traefik-values.yaml'), 'utf8'));
  const values = document.toJS() as { additionalArguments: string[] };
  const readTimeouts = values.additionalArguments.filter((argument) =>
    /^--entryPoints\.[a-z]+\.transport\.respondingTimeouts\.readTimeout=0s$/.test(argument),
  );
  expect(readTimeouts.length).toBeGreaterThanOrEqual(2);
});
