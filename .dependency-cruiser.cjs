/**
 * Which part of the code may import which (`npx depcruise bin server client shared`, part of
 * `npm test`). The folders are described in docs/design.md "Parts and what each owns".
 */

/** The server's core model: tunnels, sessions, one browser request's life, the indexes over them. */
const SERVER_CORE = '^server/core/';

/** Plain HTTP helpers (error pages, framing, forwarding headers): they know nothing of tunnels. */
const SERVER_HTTP = '^server/http/';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'An import cycle ties its files into one unit that can only be read, tested and changed together.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'server-not-client',
      severity: 'error',
      comment: 'Server and client are separate programs; what both need belongs in shared/.',
      from: { path: '^server/' },
      to: { path: '^client/' },
    },
    {
      name: 'client-not-server',
      severity: 'error',
      comment: 'Server and client are separate programs; what both need belongs in shared/.',
      from: { path: '^client/' },
      to: { path: '^server/' },
    },
    {
      name: 'shared-stands-alone',
      severity: 'error',
      comment: 'shared/ is what both sides agree on; it must not depend on either side (or on the CLI).',
      from: { path: '^shared/' },
      to: { path: '^(server|client|bin|test|bench|demo|k8s)/' },
    },
    {
      name: 'core-not-server-context',
      severity: 'error',
      comment:
        'The core model works on its own parts, not on the whole server (config, registry, metrics, drain): ' +
        'that keeps it testable in process with fakes and out of import cycles. Pass what it needs instead.',
      from: { path: SERVER_CORE },
      to: { path: '^server/server-context[.]ts$' },
    },
    {
      name: 'core-imports-only-below',
      severity: 'error',
      comment:
        'The core model is the bottom layer of the server: it may use server/http/ (plain HTTP helpers), the ' +
        'recent-requests ring it keeps per tunnel, and shared/. The data path, client API, control plane, ' +
        'lifecycle, replicas and wiring are built on it, never the other way round.',
      from: { path: SERVER_CORE },
      to: { path: '^server/', pathNot: [SERVER_CORE, SERVER_HTTP, '^server/observability/recent-requests[.]ts$'] },
    },
    {
      name: 'http-helpers-stand-alone',
      severity: 'error',
      comment: 'server/http/ is plain HTTP (node:http messages and headers): it must not know tunnels, sessions or routes.',
      from: { path: SERVER_HTTP },
      to: { path: '^server/', pathNot: SERVER_HTTP },
    },
    {
      name: 'product-not-tests',
      severity: 'error',
      comment: 'Shipped code never imports tests, benchmarks or the demo.',
      from: { path: '^(bin|server|client|shared)/' },
      to: { path: '^(test|bench|demo)/' },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment:
        'An import that does not resolve breaks the build or the packaged program. (package.json is required ' +
        'from the compiled file in dist/, so from the source it looks one folder too far up.)',
      from: {},
      to: { couldNotResolve: true, pathNot: '/package[.]json$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist)/' },
    tsConfig: { fileName: 'tsconfig.json' },
    // Type-only imports count: a cycle through types still ties the files together.
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
