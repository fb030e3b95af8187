import { parseAllDocuments } from 'yaml';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Deployment, IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { Ingress, IIngress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import { INetworkPolicy, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { IPodDisruptionBudget, PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap, IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { IContainer } from 'kubernetes-models/v1/Container';
import { Service, IService } from 'kubernetes-models/v1/Service';
import {
  DEFAULT_TUNNEL_PORTS,
  MAIN_PORT,
  listPorts,
  parseTunnelPortRange,
  renderTunnelPortsPatch,
  tunnelPortName,
} from '../k8s/generate-service-ports';

const REPO_ROOT = findRepoRoot(__dirname);
const K8S_DIR = path.join(REPO_ROOT, 'k8s');
const SHOP_COMPONENT_DIR = path.join(K8S_DIR, 'examples', 'shop');
const BASE_DIR = path.join(K8S_DIR, 'base');
const HA_DIR = path.join(K8S_DIR, 'ha');
const KUBECTL_TIMEOUT_MS = 20_000;

/** The server's flags as env vars (the README's flags plus --shutdown-grace); anything else is a typo. */
const SERVER_ENV_NAMES = new Set([
  'STANDIN_LISTEN',
  'STANDIN_PORTS',
  'STANDIN_TOKEN',
  'STANDIN_TOKEN_FILE',
  'STANDIN_ADMIN_TOKEN',
  'STANDIN_MAX_TTL',
  'STANDIN_REQUEST_TIMEOUT',
  'STANDIN_POLL_TIMEOUT',
  'STANDIN_HEALTH_INTERVAL',
  'STANDIN_SHUTDOWN_GRACE',
  'STANDIN_FALLBACK',
  'STANDIN_LOG_FORMAT',
  'STANDIN_LOG_LEVEL',
]);
/** The server's defaults for settings the manifests may leave out. */
const DEFAULT_SHUTDOWN_GRACE = '20s';
const DEFAULT_POLL_TIMEOUT = '25s';
const DEFAULT_REQUEST_TIMEOUT = '60s';

const kubectlAvailable = isKubectlAvailable();
const describeWithKubectl = kubectlAvailable ? describe : describe.skip;
if (!kubectlAvailable) {
  console.warn('kubectl not found on PATH: skipping the tests that build k8s/ with `kubectl kustomize`');
}

type Manifest = Deployment | Service | ConfigMap | Ingress | PodDisruptionBudget | NetworkPolicy;

describeWithKubectl('k8s base, as built by kubectl kustomize k8s/', () => {
  let manifests: Manifest[];
  let deployment: Deployment;
  let container: IContainer;
  let settings: Map<string, string>;
  let service: Service;
  let ingress: Ingress;

  beforeAll(() => {
    manifests = kustomize(K8S_DIR).map(toManifest);
    deployment = findOne(manifests, Deployment, 'standin');
    container = findContainer(deployment, 'standin');
    settings = resolveEnv(container, manifests);
    service = findOne(manifests, Service, 'standin');
    ingress = findOne(manifests, Ingress, 'standin');
  });

  it('builds a ConfigMap, a Deployment, a Service and an Ingress, and nothing else', () => {
    expect(manifests.map((manifest) => manifest.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'Ingress', 'Service']);
  });

  it('passes the Kubernetes schema for every object', () => {
    for (const manifest of manifests) {
      expect(() => manifest.validate()).not.toThrow();
    }
  });

  it('runs one replica and replaces it with Recreate, since tunnels live in one process', () => {
    expect(deployment.spec?.replicas).toBe(1);
    expect(deployment.spec?.strategy?.type).toBe('Recreate');
  });

  it('probes /_standin/healthz for liveness and /_standin/readyz for readiness on the main port', () => {
    const mainPort = Number(settings.get('STANDIN_LISTEN'));
    expect(mainPort).toBe(MAIN_PORT);
    expect(container.livenessProbe?.httpGet?.path).toBe('/_standin/healthz');
    expect(container.readinessProbe?.httpGet?.path).toBe('/_standin/readyz');
    expect(resolveContainerPort(container, container.livenessProbe?.httpGet?.port)).toBe(mainPort);
    expect(resolveContainerPort(container, container.readinessProbe?.httpGet?.port)).toBe(mainPort);
  });

  it('tolerates one slow readiness probe: a single replica must not drop out of the Service on one miss', () => {
    expect(container.readinessProbe?.failureThreshold ?? 3).toBeGreaterThanOrEqual(3);
  });

  it('runs as non-root with a read-only filesystem, no privilege escalation, no capabilities and RuntimeDefault seccomp', () => {
    const pod = deployment.spec?.template.spec;
    expect(pod?.securityContext?.runAsNonRoot).toBe(true);
    // The kubelet can enforce runAsNonRoot on a numeric uid only; the image's USER is a name.
    expect(pod?.securityContext?.runAsUser).toBeGreaterThan(0);
    expect(pod?.securityContext?.seccompProfile?.type).toBe('RuntimeDefault');
    expect(container.securityContext?.allowPrivilegeEscalation).toBe(false);
    expect(container.securityContext?.readOnlyRootFilesystem).toBe(true);
    expect(container.securityContext?.capabilities?.drop).toEqual(['ALL']);
  });

  it('turns off service links, whose STANDIN_PORT and STANDIN_SERVICE_HOST would look like flags', () => {
    expect(deployment.spec?.template.spec?.enableServiceLinks).toBe(false);
  });

  it('sets CPU and memory requests and limits', () => {
    for (const bound of [container.resources?.requests, container.resources?.limits]) {
      expect(bound?.cpu).toBeDefined();
      expect(bound?.memory).toBeDefined();
    }
  });

  it('gives the pod longer to stop than the server shutdown grace', () => {
    const graceMs = parseDurationMs(settings.get('STANDIN_SHUTDOWN_GRACE') ?? DEFAULT_SHUTDOWN_GRACE);
    const terminationGraceSeconds = deployment.spec?.template.spec?.terminationGracePeriodSeconds ?? 30;
    expect(terminationGraceSeconds * 1000).toBeGreaterThan(graceMs);
  });

  it('takes the client token from a Secret and never from a literal value', () => {
    const token = container.env?.find((variable) => variable.name === 'STANDIN_TOKEN');
    expect(token?.valueFrom?.secretKeyRef?.name).toBe('standin-tokens');
    expect(token?.valueFrom?.secretKeyRef?.optional).not.toBe(true);
    const adminToken = container.env?.find((variable) => variable.name === 'STANDIN_ADMIN_TOKEN');
    expect(adminToken?.valueFrom?.secretKeyRef?.name).toBe('standin-tokens');
    const literalTokens = (container.env ?? []).filter((variable) => /TOKEN/.test(variable.name) && variable.value !== undefined);
    expect(literalTokens).toEqual([]);
    const configMapKeys = manifests.filter(isConfigMap).flatMap((configMap) => Object.keys(configMap.data ?? {}));
    expect(configMapKeys.filter((key) => /TOKEN/.test(key))).toEqual([]);
  });

  it('uses only the server CLI env var names, from the container env and the ConfigMap', () => {
    const unknownNames = [...settings.keys()].filter((name) => !SERVER_ENV_NAMES.has(name));
    expect(unknownNames).toEqual([]);
    expect(container.envFrom?.map((source) => source.configMapRef?.name)).toEqual([expect.stringMatching(/^standin-config-/)]);
  });

  it('exposes exactly the main port and the default tunnel range 9000-9099 on the Service', () => {
    const servicePorts = (service.spec?.ports ?? []).map((port) => port.port).sort((a, b) => a - b);
    expect(servicePorts).toEqual([MAIN_PORT, ...listPorts({ firstPort: 9000, lastPort: 9099 })]);
    expect(settings.get('STANDIN_PORTS')).toBe(DEFAULT_TUNNEL_PORTS);
    const names = (service.spec?.ports ?? []).map((port) => port.name);
    expect(new Set(names).size).toBe(names.length);
  });

  it('sends every Service port to the container port of the same number', () => {
    for (const servicePort of service.spec?.ports ?? []) {
      expect({ name: servicePort.name, target: resolveContainerPort(container, servicePort.targetPort) }).toEqual({
        name: servicePort.name,
        target: servicePort.port,
      });
    }
    const containerPorts = (container.ports ?? []).map((port) => port.containerPort).sort((a, b) => a - b);
    expect(containerPorts).toEqual((service.spec?.ports ?? []).map((port) => port.port).sort((a, b) => a - b));
  });

  it("selects the Deployment's pods with the Service", () => {
    const podLabels = deployment.spec?.template.metadata?.labels ?? {};
    const selector = service.spec?.selector ?? {};
    expect(Object.keys(selector).length).toBeGreaterThan(0);
    expect(podLabels).toEqual(expect.objectContaining(selector));
  });

  it('routes /_standin on the control-plane Ingress to the main port of the standin Service', () => {
    const paths = ingress.spec?.rules?.flatMap((rule) => rule.http?.paths ?? []) ?? [];
    expect(paths.map((rule) => rule.path)).toEqual(['/_standin']);
    for (const rule of paths) {
      expect(rule.backend.service?.name).toBe('standin');
      expect(resolveServicePort(service, rule.backend.service?.port)).toBe(MAIN_PORT);
    }
  });

  it('lets the control-plane Ingress stream bodies of any size and outlast long polls', () => {
    expectStreamingIngress(ingress, settings);
  });
});

describeWithKubectl('k8s/examples/shop, a component that puts standin in front of one app', () => {
  let manifests: Manifest[];
  let settings: Map<string, string>;
  let service: Service;

  beforeAll(() => {
    manifests = kustomizeBaseWithComponent(K8S_DIR, SHOP_COMPONENT_DIR).map(toManifest);
    const deployment = findOne(manifests, Deployment, 'standin');
    settings = resolveEnv(findContainer(deployment, 'standin'), manifests);
    service = findOne(manifests, Service, 'standin');
  });

  it('passes the Kubernetes schema for every object', () => {
    for (const manifest of manifests) {
      expect(() => manifest.validate()).not.toThrow();
    }
  });

  it("sets STANDIN_FALLBACK to the app's in-cluster Service URL", () => {
    const fallback = new URL(settings.get('STANDIN_FALLBACK') ?? 'missing:');
    expect(fallback.protocol).toBe('http:');
    expect(fallback.hostname).toMatch(/\.svc\.cluster\.local$/);
    expect(fallback.pathname).toBe('/');
  });

  it("sends the app's path /shop to standin's main port, with streaming annotations", () => {
    const shopIngress = findOne(manifests, Ingress, 'shop-via-standin');
    const shopPath = shopIngress.spec?.rules?.flatMap((rule) => rule.http?.paths ?? []).find((rule) => rule.path === '/shop');
    expect(shopPath?.backend.service?.name).toBe('standin');
    expect(resolveServicePort(service, shopPath?.backend.service?.port)).toBe(MAIN_PORT);
    expectStreamingIngress(shopIngress, settings);
  });
});

/** What k8s/ha must get right, whether read from its files or from kubectl's build. */
interface HaObjects {
  /** The standin Deployment (in the files: the overlay's patch of it). */
  deployment: Deployment;
  /** The labels of the standin pods (in the files: from the base). */
  podLabels: Record<string, string>;
  /** STANDIN_PORTS, the tunnel port range. */
  tunnelPorts: string;
  manifests: Manifest[];
}

/** The internal port replicas stream bodies to each other on (--internal-listen). */
const HA_INTERNAL_PORT = 8081;
const HA_CLUSTER_SECRET = 'standin-cluster-secret';

/** Registers the checks of k8s/ha's key settings on the objects `load` returns (after beforeAll). */
function checkHaSettings(load: () => HaObjects): void {
  let ha: HaObjects;
  let container: IContainer;
  let flags: Map<string, string>;

  beforeAll(() => {
    ha = load();
    container = findContainer(ha.deployment, 'standin');
    flags = parseFlags(container.args ?? []);
  });

  it('runs three replicas and rolls them one at a time, never below three ready', () => {
    expect(ha.deployment.spec?.replicas).toBe(3);
    expect(ha.deployment.spec?.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
  });

  it('lets a voluntary disruption (a node drain) take at most one standin pod', () => {
    const budget = findOne(ha.manifests, PodDisruptionBudget, 'standin');
    expect(budget.spec?.maxUnavailable).toBe(1);
    expect(budget.spec?.minAvailable).toBeUndefined();
    expect(Object.keys(budget.spec?.selector?.matchLabels ?? {}).length).toBeGreaterThan(0);
    expect(ha.podLabels).toEqual(expect.objectContaining(budget.spec?.selector?.matchLabels ?? {}));
  });

  it('gives the server its pod IP from the downward API, for the default --advertise', () => {
    const podIp = container.env?.find((variable) => variable.name === 'POD_IP');
    expect(podIp?.valueFrom?.fieldRef?.fieldPath).toBe('status.podIP');
  });

  it('points --redis at the Redis Service, which selects the single Redis pod', () => {
    const redisUrl = new URL(flags.get('--redis') ?? 'missing:');
    const redisService = findOne(ha.manifests, Service, redisUrl.hostname);
    expect(redisUrl.protocol).toBe('redis:');
    expect(redisService.spec?.ports?.map((port) => port.port)).toContain(Number(redisUrl.port || 6379));
    const redis = findOne(ha.manifests, Deployment, 'standin-redis');
    expect(redis.spec?.replicas).toBe(1);
    expect(redis.spec?.template.metadata?.labels).toEqual(expect.objectContaining(redisService.spec?.selector ?? { missing: 'selector' }));
    // A Service "standin" must not select the Redis pods, nor a Redis Service the standin pods.
    expect(Object.entries(redisService.spec?.selector ?? {}).every(([key, value]) => ha.podLabels[key] === value)).toBe(false);
  });

  it('listens for the other replicas on --internal-listen, declared as the container port "internal"', () => {
    expect(Number(flags.get('--internal-listen'))).toBe(HA_INTERNAL_PORT);
    expect(container.ports).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'internal', containerPort: HA_INTERNAL_PORT })]),
    );
  });

  it('reads --cluster-secret-file from the Secret standin-cluster-secret, mounted read-only where the server user can read it', () => {
    const file = flags.get('--cluster-secret-file') ?? 'missing';
    expect(flags.has('--cluster-secret')).toBe(false);
    const mount = container.volumeMounts?.find((candidate) => path.posix.dirname(file) === candidate.mountPath);
    expect(mount?.readOnly).toBe(true);
    const volume = ha.deployment.spec?.template.spec?.volumes?.find((candidate) => candidate.name === mount?.name);
    expect(volume?.secret?.secretName).toBe(HA_CLUSTER_SECRET);
    expect(volume?.secret?.optional).not.toBe(true);
    expect(volume?.secret?.items ?? [{ key: path.posix.basename(file), path: path.posix.basename(file) }]).toEqual([
      { key: path.posix.basename(file), path: path.posix.basename(file) },
    ]);
    // Secret files belong to root; the non-root server reads it through fsGroup or as "other".
    const mode = volume?.secret?.defaultMode ?? 0o644;
    const groupCanRead = (mode & 0o040) !== 0 && ha.deployment.spec?.template.spec?.securityContext?.fsGroup !== undefined;
    expect(groupCanRead || (mode & 0o004) !== 0).toBe(true);
  });

  it('opens the main port and exactly the tunnel range to everyone, and the internal port to standin pods only', () => {
    const policy = networkPolicyFor(ha.manifests, ha.podLabels);
    expect(policy.spec?.policyTypes).toContain('Ingress');
    const range = parseTunnelPortRange(ha.tunnelPorts);
    for (const rule of policy.spec?.ingress ?? []) {
      const ports = (rule.ports ?? []).map((port) => ({
        port: typeof port.port === 'number' ? port.port : resolveContainerPort(container, port.port),
        endPort: port.endPort,
      }));
      if (rule.from === undefined || rule.from.length === 0) {
        expect(ports).toEqual([
          { port: MAIN_PORT, endPort: undefined },
          ...(range ? [{ port: range.firstPort, endPort: range.lastPort }] : []),
        ]);
      } else {
        expect(ports).toEqual([{ port: HA_INTERNAL_PORT, endPort: undefined }]);
        expectOnlyPodsLabelled(rule.from, ha.podLabels);
      }
    }
    expect(policy.spec?.ingress?.some((rule) => rule.from?.length)).toBe(true);
  });

  it('lets only standin pods reach Redis', () => {
    const redis = findOne(ha.manifests, Deployment, 'standin-redis');
    const redisPort = findContainer(redis, 'redis').ports?.find((port) => port.name === 'redis')?.containerPort;
    const policy = networkPolicyFor(ha.manifests, redis.spec?.template.metadata?.labels ?? {});
    expect(policy.spec?.policyTypes).toContain('Ingress');
    expect(policy.spec?.ingress?.length).toBeGreaterThan(0);
    for (const rule of policy.spec?.ingress ?? []) {
      expect(rule.ports?.map((port) => port.port)).toEqual([redisPort]);
      expectOnlyPodsLabelled(rule.from ?? [], ha.podLabels);
    }
  });
}

describeWithKubectl('k8s/ha, three replicas sharing Redis, as built by kubectl kustomize k8s/ha', () => {
  let manifests: Manifest[];
  let deployment: Deployment;
  let container: IContainer;
  let settings: Map<string, string>;

  beforeAll(() => {
    manifests = kustomize(HA_DIR).map(toManifest);
    deployment = findOne(manifests, Deployment, 'standin');
    container = findContainer(deployment, 'standin');
    settings = resolveEnv(container, manifests);
  });

  it('builds the base plus a PodDisruptionBudget, two NetworkPolicies and Redis, and no Secret', () => {
    expect(manifests.map((manifest) => manifest.kind).sort()).toEqual([
      'ConfigMap',
      'Deployment',
      'Deployment',
      'Ingress',
      'NetworkPolicy',
      'NetworkPolicy',
      'PodDisruptionBudget',
      'Service',
      'Service',
    ]);
  });

  it('passes the Kubernetes schema for every object', () => {
    for (const manifest of manifests) {
      expect(() => manifest.validate()).not.toThrow();
    }
  });

  it("keeps the base's settings: service links off (a Service standin-redis would inject STANDIN_REDIS_*), tokens, probes, grace", () => {
    expect(deployment.spec?.template.spec?.enableServiceLinks).toBe(false);
    expect(container.env?.find((variable) => variable.name === 'STANDIN_TOKEN')?.valueFrom?.secretKeyRef?.name).toBe('standin-tokens');
    expect(container.readinessProbe?.httpGet?.path).toBe('/_standin/readyz');
    const graceMs = parseDurationMs(settings.get('STANDIN_SHUTDOWN_GRACE') ?? DEFAULT_SHUTDOWN_GRACE);
    expect((deployment.spec?.template.spec?.terminationGracePeriodSeconds ?? 30) * 1000).toBeGreaterThan(graceMs);
  });

  it('keeps the internal port off the Service: only replicas talk on it', () => {
    const service = findOne(manifests, Service, 'standin');
    expect(service.spec?.ports?.map((port) => resolveContainerPort(container, port.targetPort))).not.toContain(HA_INTERNAL_PORT);
  });

  checkHaSettings(() => ({
    deployment,
    podLabels: deployment.spec?.template.metadata?.labels ?? {},
    tunnelPorts: settings.get('STANDIN_PORTS') ?? 'missing',
    manifests,
  }));
});

// Runs without kubectl too: the same key settings, read from the overlay's files.
describe('k8s/ha files, read without kubectl', () => {
  it('builds on ../base and lists every file of k8s/ha as a resource or a patch', () => {
    const kustomization = readYaml(path.join(HA_DIR, 'kustomization.yaml'))[0] as {
      resources?: string[];
      patches?: Array<{ path?: string }>;
    };
    expect(kustomization.resources).toContain('../base');
    const used = [...(kustomization.resources ?? []), ...(kustomization.patches ?? []).map((patch) => patch.path)];
    const files = fs.readdirSync(HA_DIR).filter((file) => file.endsWith('.yaml') && file !== 'kustomization.yaml');
    expect(files.filter((file) => !used.includes(file))).toEqual([]);
  });

  checkHaSettings(() => {
    const overlay = fs
      .readdirSync(HA_DIR)
      .filter((file) => file.endsWith('.yaml') && file !== 'kustomization.yaml')
      .flatMap((file) => readYaml(path.join(HA_DIR, file)))
      .map(toManifest);
    const baseDeployment = readYaml(path.join(BASE_DIR, 'deployment.yaml')).map(toManifest)[0] as Deployment;
    const portsPatch = parsePatch(fs.readFileSync(path.join(BASE_DIR, 'service-ports.yaml'), 'utf8'));
    return {
      deployment: findOne(overlay, Deployment, 'standin'),
      podLabels: baseDeployment.spec?.template.metadata?.labels ?? {},
      tunnelPorts:
        portsPatch.deployment?.spec?.template.spec?.containers[0]?.env?.find((variable) => variable.name === 'STANDIN_PORTS')?.value ??
        'missing',
      manifests: overlay,
    };
  });
});

function readYaml(file: string): unknown[] {
  return parseYamlDocuments(fs.readFileSync(file, 'utf8'));
}

/** `--name=value` and `--name value` arguments as a map. */
function parseFlags(args: readonly string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const equals = arg.indexOf('=');
    if (equals > 0) flags.set(arg.slice(0, equals), arg.slice(equals + 1));
    else flags.set(arg, args[++i] ?? '');
  }
  return flags;
}

/** The one NetworkPolicy whose pod selector picks pods with `labels`. */
function networkPolicyFor(manifests: readonly Manifest[], labels: Record<string, string>): NetworkPolicy {
  const policies = manifests.filter(
    (manifest): manifest is NetworkPolicy =>
      manifest instanceof NetworkPolicy &&
      Object.entries(manifest.spec?.podSelector.matchLabels ?? { none: 'none' }).every(([key, value]) => labels[key] === value),
  );
  if (policies.length !== 1) throw new Error(`expected one NetworkPolicy for pods ${JSON.stringify(labels)}, found ${policies.length}`);
  return policies[0];
}

/** A NetworkPolicy rule's `from` admits only pods of this namespace that carry `labels`. */
function expectOnlyPodsLabelled(
  from: NonNullable<NonNullable<INetworkPolicy['spec']>['ingress']>[number]['from'] & object,
  labels: Record<string, string>,
): void {
  expect(from.length).toBeGreaterThan(0);
  for (const peer of from) {
    expect(peer.ipBlock).toBeUndefined();
    expect(peer.namespaceSelector).toBeUndefined();
    expect(Object.keys(peer.podSelector?.matchLabels ?? {}).length).toBeGreaterThan(0);
    expect(labels).toEqual(expect.objectContaining(peer.podSelector?.matchLabels ?? {}));
  }
}

describe('generate-service-ports', () => {
  it('parses a range into its first and last port', () => {
    expect(parseTunnelPortRange('9000-9099')).toEqual({ firstPort: 9000, lastPort: 9099 });
    expect(parseTunnelPortRange(' 9000-9000 ')).toEqual({ firstPort: 9000, lastPort: 9000 });
  });

  it('parses "none" as no tunnel ports', () => {
    expect(parseTunnelPortRange('none')).toBeNull();
  });

  it.each([
    ['9000', /not <from>-<to>/],
    ['nine-ten', /not <from>-<to>/],
    ['9000-', /not <from>-<to>/],
    ['0-10', /within 1-65535/],
    ['65000-65536', /within 1-65535/],
    ['9099-9000', /starts after it ends/],
    ['10000-11500', /1501 ports; at most 1000/],
    ['8000-8099', /contains the main port 8080/],
  ])('rejects %s with a message that names it', (text, message) => {
    expect(() => parseTunnelPortRange(text)).toThrow(RangeError);
    expect(() => parseTunnelPortRange(text)).toThrow(message);
    expect(() => parseTunnelPortRange(text)).toThrow(text);
  });

  it('names ports within the 15 characters a container port name may have', () => {
    expect(tunnelPortName(65_535)).toBe('tunnel-65535');
    expect(tunnelPortName(65_535).length).toBeLessThanOrEqual(15);
  });

  it('writes one Service port and one container port per tunnel port, and STANDIN_PORTS', () => {
    const patch = parsePatch(renderTunnelPortsPatch({ firstPort: 9000, lastPort: 9002 }));
    expect(patch.service?.spec?.ports).toEqual([
      { name: 'tunnel-9000', port: 9000, targetPort: 9000, protocol: 'TCP' },
      { name: 'tunnel-9001', port: 9001, targetPort: 9001, protocol: 'TCP' },
      { name: 'tunnel-9002', port: 9002, targetPort: 9002, protocol: 'TCP' },
    ]);
    const container = patch.deployment?.spec?.template.spec?.containers[0];
    expect(container?.name).toBe('standin');
    expect(container?.env).toEqual([{ name: 'STANDIN_PORTS', value: '9000-9002' }]);
    expect(container?.ports?.map((port) => [port.name, port.containerPort])).toEqual([
      ['tunnel-9000', 9000],
      ['tunnel-9001', 9001],
      ['tunnel-9002', 9002],
    ]);
  });

  it('writes only STANDIN_PORTS=none, and no Service patch, when tunnel ports are off', () => {
    const patch = parsePatch(renderTunnelPortsPatch(null));
    expect(patch.service).toBeUndefined();
    const container = patch.deployment?.spec?.template.spec?.containers[0];
    expect(container?.env).toEqual([{ name: 'STANDIN_PORTS', value: 'none' }]);
    expect(container?.ports).toBeUndefined();
  });

  it('matches the committed k8s/base/service-ports.yaml for the default range', () => {
    const committed = fs.readFileSync(path.join(K8S_DIR, 'base', 'service-ports.yaml'), 'utf8');
    expect(committed).toBe(renderTunnelPortsPatch(parseTunnelPortRange(DEFAULT_TUNNEL_PORTS)));
  });
});

/** Checks the nginx annotations that keep long polls, WebSockets and streamed bodies alive. */
function expectStreamingIngress(ingress: Ingress, settings: Map<string, string>): void {
  const annotations = ingress.metadata?.annotations ?? {};
  const longestWaitMs = Math.max(
    parseDurationMs(settings.get('STANDIN_POLL_TIMEOUT') ?? DEFAULT_POLL_TIMEOUT),
    parseDurationMs(settings.get('STANDIN_REQUEST_TIMEOUT') ?? DEFAULT_REQUEST_TIMEOUT),
  );
  for (const name of ['proxy-read-timeout', 'proxy-send-timeout']) {
    const value = annotations[`nginx.ingress.kubernetes.io/${name}`];
    expect({ name, value }).toEqual({ name, value: expect.stringMatching(/^\d+$/) });
    expect(Number(value) * 1000).toBeGreaterThan(longestWaitMs);
  }
  expect(annotations).toEqual(
    expect.objectContaining({
      'nginx.ingress.kubernetes.io/proxy-body-size': '0',
      'nginx.ingress.kubernetes.io/proxy-buffering': 'off',
      'nginx.ingress.kubernetes.io/proxy-request-buffering': 'off',
    }),
  );
}

function isKubectlAvailable(): boolean {
  const result = spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore', timeout: KUBECTL_TIMEOUT_MS });
  return result.error === undefined || (result.error as NodeJS.ErrnoException).code !== 'ENOENT';
}

/** Runs `kubectl kustomize <dir>` and returns its YAML documents. */
function kustomize(dir: string): unknown[] {
  const output = execFileSync('kubectl', ['kustomize', dir], {
    encoding: 'utf8',
    timeout: KUBECTL_TIMEOUT_MS,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return parseYamlDocuments(output);
}

/**
 * Builds the base with a component the way a user's overlay would. The overlay lives in a
 * temporary directory: kustomize refuses an overlay inside its own base, and takes only
 * relative paths.
 */
function kustomizeBaseWithComponent(baseDir: string, componentDir: string): unknown[] {
  const overlayDir = fs.mkdtempSync(path.join(os.tmpdir(), 'standin-k8s-'));
  try {
    const kustomization = [
      'apiVersion: kustomize.config.k8s.io/v1beta1',
      'kind: Kustomization',
      'resources:',
      `  - ${path.relative(overlayDir, baseDir)}`,
      'components:',
      `  - ${path.relative(overlayDir, componentDir)}`,
      '',
    ].join('\n');
    fs.writeFileSync(path.join(overlayDir, 'kustomization.yaml'), kustomization);
    return kustomize(overlayDir);
  } finally {
    fs.rmSync(overlayDir, { recursive: true, force: true });
  }
}

/** Parses every YAML document in the text; a document with errors fails the test. */
function parseYamlDocuments(text: string): unknown[] {
  return parseAllDocuments(text)
    .map((document) => {
      if (document.errors.length > 0) throw document.errors[0];
      return document.toJS() as unknown;
    })
    .filter((document) => document != null);
}

/** Wraps a parsed object in its kubernetes-models class, whose validate() checks the schema. */
function toManifest(object: unknown): Manifest {
  const { apiVersion, kind } = object as { apiVersion?: unknown; kind?: unknown };
  const type = `${String(apiVersion)} ${String(kind)}`;
  switch (type) {
    case 'apps/v1 Deployment':
      return new Deployment(object as IDeployment);
    case 'v1 Service':
      return new Service(object as IService);
    case 'v1 ConfigMap':
      return new ConfigMap(object as IConfigMap);
    case 'networking.k8s.io/v1 Ingress':
      return new Ingress(object as IIngress);
    case 'networking.k8s.io/v1 NetworkPolicy':
      return new NetworkPolicy(object as INetworkPolicy);
    case 'policy/v1 PodDisruptionBudget':
      return new PodDisruptionBudget(object as IPodDisruptionBudget);
    default:
      throw new Error(`no kubernetes-models class for ${type}; add one to toManifest() to validate it`);
  }
}

function isConfigMap(manifest: Manifest): manifest is ConfigMap {
  return manifest instanceof ConfigMap;
}

function findOne<T extends Manifest>(manifests: readonly Manifest[], type: abstract new (...args: never[]) => T, name: string): T {
  const found = manifests.filter((manifest): manifest is T => manifest instanceof type && manifest.metadata?.name === name);
  if (found.length !== 1) {
    throw new Error(`expected one ${type.name} named ${name}, found ${found.length}`);
  }
  return found[0];
}

function findContainer(deployment: Deployment, name: string): IContainer {
  const container = deployment.spec?.template.spec?.containers.find((candidate) => candidate.name === name);
  if (container === undefined) {
    throw new Error(`Deployment ${deployment.metadata?.name} has no container named ${name}`);
  }
  return container;
}

/**
 * The env vars the container will see: its ConfigMaps first, then `env`, which wins in
 * Kubernetes. Values from Secrets are marked, not read.
 */
function resolveEnv(container: IContainer, manifests: readonly Manifest[]): Map<string, string> {
  const resolved = new Map<string, string>();
  for (const source of container.envFrom ?? []) {
    const configMapName = source.configMapRef?.name;
    const configMap = manifests.filter(isConfigMap).find((candidate) => candidate.metadata?.name === configMapName);
    if (configMap === undefined) {
      throw new Error(`container ${container.name} reads ConfigMap ${configMapName}, which the build does not contain`);
    }
    for (const [name, value] of Object.entries(configMap.data ?? {})) {
      resolved.set(name, value);
    }
  }
  for (const variable of container.env ?? []) {
    resolved.set(variable.name, variable.value ?? '<from a reference>');
  }
  return resolved;
}

/** A probe's or Service's target port (number or container port name) as a port number. */
function resolveContainerPort(container: IContainer, port: number | string | undefined): number | undefined {
  if (typeof port === 'number') {
    return container.ports?.some((candidate) => candidate.containerPort === port) ? port : undefined;
  }
  return container.ports?.find((candidate) => candidate.name === port)?.containerPort;
}

/** An Ingress backend's Service port (by number or name) as the Service port number. */
function resolveServicePort(service: Service, port: { name?: string; number?: number } | undefined): number | undefined {
  const servicePort = service.spec?.ports?.find(
    (candidate) => (port?.name !== undefined && candidate.name === port.name) || candidate.port === port?.number,
  );
  return servicePort?.port;
}

/** The generator's output, split into its Service and Deployment patches. */
function parsePatch(yamlText: string): { service?: Partial<IService>; deployment?: Partial<IDeployment> } {
  const documents = parseYamlDocuments(yamlText) as Array<{ kind?: string }>;
  return {
    service: documents.find((document) => document.kind === 'Service') as Partial<IService> | undefined,
    deployment: documents.find((document) => document.kind === 'Deployment') as Partial<IDeployment> | undefined,
  };
}

/** Parses the durations the server accepts in its settings, such as 25s, 12h or 500ms. */
function parseDurationMs(text: string): number {
  const match = /^(\d+)(ms|s|m|h)$/.exec(text);
  if (match === null) {
    throw new Error(`duration "${text}" is not <number><ms|s|m|h>`);
  }
  const unitMs: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  return Number(match[1]) * (unitMs[match[2]] ?? Number.NaN);
}

function findRepoRoot(startDir: string): string {
  for (let dir = startDir; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'k8s'))) {
      return dir;
    }
    if (path.dirname(dir) === dir) {
      throw new Error(`no repository root (package.json next to k8s/) above ${startDir}`);
    }
  }
}

describe('the image and the docs around the manifests', () => {
  it('builds on a maintained Node.js LTS line (22 or 24), in every stage', () => {
    const bases = [...fs.readFileSync(path.join(REPO_ROOT, 'Dockerfile'), 'utf8').matchAll(/^FROM node:(\d+)/gm)].map((match) =>
      Number(match[1]),
    );
    expect(bases.length).toBeGreaterThan(0);
    for (const major of bases) expect([22, 24]).toContain(major);
  });

  it('links only to docs that exist, from the manifests, k8s/README.md and the README', () => {
    const files = [path.join(REPO_ROOT, 'README.md'), path.join(REPO_ROOT, 'Dockerfile'), ...listFiles(K8S_DIR)];
    const missing: string[] = [];
    for (const file of files) {
      for (const match of fs.readFileSync(file, 'utf8').matchAll(/\bdocs\/[a-z0-9-]+\.(?:md|png)/g)) {
        if (!fs.existsSync(path.join(REPO_ROOT, match[0]))) missing.push(`${path.relative(REPO_ROOT, file)}: ${match[0]}`);
      }
    }
    expect(missing).toEqual([]);
  });
});

function listFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => (entry.isDirectory() ? listFiles(path.join(dir, entry.name)) : [path.join(dir, entry.name)]));
}
