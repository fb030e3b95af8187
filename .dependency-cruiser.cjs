/**
 * Which part of the code may import which (`npx depcruise bin server client shared`, part of
 * `npm test`). The rules name folders of the target layout (server/core/, server/data-path/, ...)
 * and, until the files move there, the same files at today's flat paths, so they hold on both.
 */

/** The server's core model: tunnels, sessions, one browser request's life, the indexes over them. */
const SERVER_CORE = [
  '^server/core/',
  '^server/(tunnel|tunnel-session|browser-request|handed-requests|tunnel-registry|port-pool|session-liveness|open-upgrades)[.]ts$',
];

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
      name: 'core-not-outer-layers',
      severity: 'error',
      comment: 'The core model does not know the client API, the control plane or the lifecycle procedures that use it.',
      from: { path: SERVER_CORE },
      to: { path: '^server/(client-api|control-plane|lifecycle)/' },
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
