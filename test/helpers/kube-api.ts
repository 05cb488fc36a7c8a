/**
 * A real loopback HTTPS server that plays the Kubernetes API for tests, with a PKI
 * made by the openssl CLI: a self-signed cluster CA, a server certificate for
 * 127.0.0.1/::1/localhost, an admin client certificate, an EXPIRED client certificate
 * (signed with `openssl ca -startdate/-enddate` in 2020; OpenSSL 3.0's `x509` cannot
 * backdate), and an unrelated CA for the wrong-CA case.
 *
 * Authentication follows kube-apiserver: the TLS server *requests* a client
 * certificate but does not abort the handshake; a certificate that fails verification
 * (expired, unknown CA) makes every request 401 Unauthorized with a meta/v1 Status
 * body; no credentials at all is `system:anonymous`, which may read only /readyz,
 * /livez, /healthz and /version (the system:public-info-viewer role) and gets 403
 * elsewhere. Objects are shaped exactly as the API serves them (list items carry no
 * kind/apiVersion; empty fields are omitted).
 *
 * Service-account tokens (`state.serviceAccounts`) authenticate as
 * `system:serviceaccount:NS:NAME` and are authorized like RBAC does: a request passes
 * only when a granted rule names its verb (`get` for one object, `list` for a
 * collection), resource and namespace (cluster scope for a ClusterRole's grant);
 * otherwise 403 with the Status message kube-apiserver writes. A token removed from
 * the state (it expired) is 401.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import type { KubeNode, KubePod } from '../../src/kube/types.js';

// ---------------------------------------------------------------- PKI (openssl CLI)

export interface Pki {
  dir: string;
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  expiredClientCert: string;
  /** Key of the expired certificate (same subject as the admin, different key). */
  expiredClientKey: string;
  /** A CA that signed nothing the server uses. */
  otherCaCert: string;
  /** A client certificate signed by the other CA (unknown to the server). */
  foreignClientCert: string;
  foreignClientKey: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function newKey(dir: string, name: string): void {
  // P-256 keys: generated in milliseconds, unlike RSA.
  openssl(
    ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`],
    dir,
  );
}

function selfSignedCa(dir: string, name: string, cn: string): void {
  newKey(dir, name);
  openssl(
    [
      'req',
      '-x509',
      '-new',
      '-key',
      `${name}.key`,
      '-out',
      `${name}.crt`,
      '-days',
      '3650',
      '-subj',
      `/CN=${cn}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
}

/** Sign `${name}.csr` with `${ca}` via `openssl ca`, which accepts explicit validity dates. */
function signWithCa(
  dir: string,
  ca: string,
  name: string,
  ext: string,
  dates: { start: string; end: string },
): void {
  const db = join(dir, `${ca}-db`);
  mkdirSync(db, { recursive: true });
  try {
    readFileSync(join(db, 'serial'));
  } catch {
    writeFileSync(join(db, 'serial'), '1000\n');
    writeFileSync(join(db, 'index.txt'), '');
  }
  writeFileSync(
    join(dir, `${ca}.cnf`),
    [
      '[ca]',
      'default_ca = testca',
      '[testca]',
      `database = ${db}/index.txt`,
      `new_certs_dir = ${db}`,
      `serial = ${db}/serial`,
      'default_md = sha256',
      'policy = anything',
      'unique_subject = no',
      'copy_extensions = none',
      '[anything]',
      'commonName = supplied',
      'organizationName = optional',
      '[server]',
      'basicConstraints = CA:FALSE',
      'keyUsage = critical,digitalSignature',
      'extendedKeyUsage = serverAuth',
      'subjectAltName = IP:127.0.0.1,IP:::1,DNS:localhost,DNS:kubernetes.default.svc',
      '[client]',
      'basicConstraints = CA:FALSE',
      'keyUsage = critical,digitalSignature',
      'extendedKeyUsage = clientAuth',
      '',
    ].join('\n'),
  );
  openssl(
    [
      'ca',
      '-batch',
      '-config',
      `${ca}.cnf`,
      '-cert',
      `${ca}.crt`,
      '-keyfile',
      `${ca}.key`,
      '-in',
      `${name}.csr`,
      '-out',
      `${name}.crt`,
      '-notext',
      '-extensions',
      ext,
      '-startdate',
      dates.start,
      '-enddate',
      dates.end,
    ],
    dir,
  );
}

function csr(dir: string, name: string, subj: string): void {
  newKey(dir, name);
  openssl(['req', '-new', '-key', `${name}.key`, '-out', `${name}.csr`, '-subj', subj], dir);
}

function asn1Time(d: Date): string {
  // YYYYMMDDHHMMSSZ (openssl ca -startdate/-enddate).
  return d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
}

/** Make the whole PKI in `dir` (about 15 openssl runs, well under a second). */
export function makePki(dir: string): Pki {
  mkdirSync(dir, { recursive: true });
  const now = Date.now();
  const valid = {
    start: asn1Time(new Date(now - 3_600_000)),
    end: asn1Time(new Date(now + 30 * 86_400_000)),
  };
  selfSignedCa(dir, 'ca', 'kubernetes-ca');
  csr(dir, 'server', '/CN=kube-apiserver');
  signWithCa(dir, 'ca', 'server', 'server', valid);
  // The subject KubeSolo's admin kubeconfig uses: O=system:masters (cluster-admin).
  csr(dir, 'client', '/O=system:masters/CN=kubernetes-admin');
  signWithCa(dir, 'ca', 'client', 'client', valid);
  csr(dir, 'expired', '/O=system:masters/CN=kubernetes-admin');
  signWithCa(dir, 'ca', 'expired', 'client', { start: '20200101000000Z', end: '20200102000000Z' });
  selfSignedCa(dir, 'other-ca', 'some-other-ca');
  csr(dir, 'foreign', '/O=system:masters/CN=kubernetes-admin');
  signWithCa(dir, 'other-ca', 'foreign', 'client', valid);
  const read = (f: string) => readFileSync(join(dir, f), 'utf8');
  return {
    dir,
    caCert: read('ca.crt'),
    caKey: read('ca.key'),
    serverCert: read('server.crt'),
    serverKey: read('server.key'),
    clientCert: read('client.crt'),
    clientKey: read('client.key'),
    expiredClientCert: read('expired.crt'),
    expiredClientKey: read('expired.key'),
    otherCaCert: read('other-ca.crt'),
    foreignClientCert: read('foreign.crt'),
    foreignClientKey: read('foreign.key'),
  };
}

// ---------------------------------------------------------------- API objects

const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z'); // metav1.Time: RFC 3339, seconds
const ago = (now: Date, seconds: number) => iso(new Date(now.getTime() - seconds * 1000));
let uidCounter = 0;
const uid = () => `6f1c0b1e-0000-4000-8000-${(++uidCounter).toString(16).padStart(12, '0')}`;

export interface NodeOptions {
  now: Date;
  /** Ready condition status (default "True"). */
  ready?: 'True' | 'False' | 'Unknown';
  /** Seconds since the Ready condition last changed (default 600). */
  readySinceSec?: number;
  /** Drop the Ready condition entirely (a node that never reported). */
  noReadyCondition?: boolean;
}

/** A core/v1 Node as `GET /api/v1/nodes/{name}` returns it. */
export function nodeObject(name: string, o: NodeOptions): KubeNode {
  const since = ago(o.now, o.readySinceSec ?? 600);
  const beat = ago(o.now, 5);
  const ready = o.ready ?? 'True';
  const readyCond = {
    True: { reason: 'KubeletReady', message: 'kubelet is posting ready status' },
    False: {
      reason: 'KubeletNotReady',
      message:
        'container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady',
    },
    Unknown: { reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.' },
  }[ready];
  const pressure = (type: string, reason: string, message: string) => ({
    type,
    status: 'False',
    lastHeartbeatTime: beat,
    lastTransitionTime: ago(o.now, 3600),
    reason,
    message,
  });
  return {
    kind: 'Node',
    apiVersion: 'v1',
    metadata: {
      name,
      uid: uid(),
      resourceVersion: '48213',
      creationTimestamp: ago(o.now, 86_400),
      labels: {
        'beta.kubernetes.io/arch': 'amd64',
        'beta.kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'node-role.kubernetes.io/control-plane': '',
      },
      annotations: {
        'node.alpha.kubernetes.io/ttl': '0',
        'volumes.kubernetes.io/controller-managed-attach-detach': 'true',
      },
    },
    spec: { podCIDR: '10.42.0.0/24' },
    status: {
      conditions: [
        pressure(
          'MemoryPressure',
          'KubeletHasSufficientMemory',
          'kubelet has sufficient memory available',
        ),
        pressure('DiskPressure', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
        pressure('PIDPressure', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
        ...(o.noReadyCondition
          ? []
          : [
              {
                type: 'Ready',
                status: ready,
                lastHeartbeatTime: beat,
                lastTransitionTime: since,
                ...readyCond,
              },
            ]),
      ],
      addresses: [
        { type: 'InternalIP', address: '10.0.2.15' },
        { type: 'Hostname', address: name },
      ],
      nodeInfo: {
        kubeletVersion: 'v1.32.3',
        osImage: 'KubeSolo OS',
        containerRuntimeVersion: 'containerd://1.7.27',
        kernelVersion: '6.6.58',
      },
    },
  };
}

export interface ContainerSpec {
  name: string;
  /** 'running' (ready unless ready:false), 'crashloop' (waiting in CrashLoopBackOff), 'creating'. */
  state?: 'running' | 'crashloop' | 'creating';
  ready?: boolean;
  restartCount?: number;
  /** Seconds since the container (re)started (default: readyForSec of the pod). */
  startedSec?: number;
}

export interface PodOptions {
  now: Date;
  namespace?: string;
  nodeName?: string;
  phase?: 'Pending' | 'Running' | 'Succeeded' | 'Failed';
  /** Seconds since the Ready condition last changed (default 600). */
  readyForSec?: number;
  containers?: ContainerSpec[];
  ownerKind?: string;
}

/** A core/v1 Pod as an item of `GET /api/v1/namespaces/{ns}/pods`. */
export function podObject(name: string, o: PodOptions): KubePod {
  const readyFor = o.readyForSec ?? 600;
  const phase = o.phase ?? 'Running';
  const containers: ContainerSpec[] = o.containers ?? [{ name: name.split('-')[0] ?? name }];
  const created = ago(o.now, Math.max(readyFor, 3600) + 60);
  const statuses = containers.map((c) => {
    const state = c.state ?? 'running';
    const restartCount = c.restartCount ?? 0;
    const image = `registry.k8s.io/${c.name}:v1.0.0`;
    const base = {
      name: c.name,
      image,
      imageID: `${image.split(':')[0]}@sha256:${'ab'.repeat(32)}`,
      containerID: `containerd://${'cd'.repeat(32)}`,
      restartCount,
    };
    const lastState =
      restartCount > 0
        ? {
            terminated: {
              exitCode: 1,
              reason: 'Error',
              startedAt: ago(o.now, (c.startedSec ?? readyFor) + 40),
              finishedAt: ago(o.now, (c.startedSec ?? readyFor) + 1),
              containerID: `containerd://${'ef'.repeat(32)}`,
            },
          }
        : {};
    if (phase === 'Succeeded') {
      return {
        ...base,
        state: {
          terminated: {
            exitCode: 0,
            reason: 'Completed',
            startedAt: ago(o.now, 3000),
            finishedAt: ago(o.now, 2990),
          },
        },
        lastState,
        ready: false,
        started: false,
      };
    }
    if (state === 'crashloop') {
      return {
        ...base,
        state: {
          waiting: {
            reason: 'CrashLoopBackOff',
            message: `back-off 40s restarting failed container=${c.name} pod=${name}_${o.namespace ?? 'kube-system'}(${'0'.repeat(8)})`,
          },
        },
        lastState,
        ready: false,
        started: false,
      };
    }
    if (state === 'creating') {
      return {
        ...base,
        state: { waiting: { reason: 'ContainerCreating' } },
        lastState,
        ready: false,
        started: false,
      };
    }
    return {
      ...base,
      state: { running: { startedAt: ago(o.now, c.startedSec ?? readyFor) } },
      lastState,
      ready: c.ready ?? true,
      started: true,
    };
  });
  const allReady = phase === 'Running' && statuses.every((s) => s.ready);
  const unready = statuses.filter((s) => !s.ready).map((s) => s.name);
  const cond = (type: string, status: boolean, at: string, extra: Record<string, string> = {}) => ({
    type,
    status: status ? 'True' : 'False',
    lastProbeTime: null,
    lastTransitionTime: at,
    ...extra,
  });
  const readyExtra: Record<string, string> = allReady
    ? {}
    : phase === 'Succeeded'
      ? { reason: 'PodCompleted' }
      : {
          reason: 'ContainersNotReady',
          message: `containers with unready status: [${unready.join(' ')}]`,
        };
  const readyAt = ago(o.now, readyFor);
  return {
    metadata: {
      name,
      generateName: `${name.replace(/-[a-z0-9]{5}$/, '')}-`,
      namespace: o.namespace ?? 'kube-system',
      uid: uid(),
      resourceVersion: String(40_000 + uidCounter),
      creationTimestamp: created,
      labels: { 'k8s-app': name.split('-')[0] ?? name, 'pod-template-hash': '7b98449c4' },
      ownerReferences: [
        {
          apiVersion: 'apps/v1',
          kind: o.ownerKind ?? 'ReplicaSet',
          name: name.replace(/-[a-z0-9]{5}$/, ''),
          uid: uid(),
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: {
      nodeName: o.nodeName ?? 'edge-1',
      containers: containers.map((c) => ({
        name: c.name,
        image: `registry.k8s.io/${c.name}:v1.0.0`,
      })),
    },
    status: {
      phase,
      conditions: [
        cond('PodReadyToStartContainers', phase !== 'Pending', created),
        cond('Initialized', true, created),
        cond('Ready', allReady, readyAt, readyExtra),
        cond('ContainersReady', allReady, readyAt, readyExtra),
        cond('PodScheduled', true, created),
      ],
      hostIP: '10.0.2.15',
      podIP: '10.42.0.7',
      startTime: created,
      containerStatuses: statuses,
      qosClass: 'Burstable',
    } as KubePod['status'],
  };
}

/** A healthy single-node KubeSolo: node Ready for 10 min, coredns and local-path for 10 min. */
export function healthyCluster(
  now: Date,
  nodeName = 'edge-1',
): { nodes: KubeNode[]; pods: KubePod[] } {
  return {
    nodes: [nodeObject(nodeName, { now })],
    pods: [
      podObject('coredns-7b98449c4-x2k9p', { now, nodeName }),
      podObject('local-path-provisioner-5cf85fd84d-q8zvw', {
        now,
        nodeName,
        containers: [{ name: 'local-path-provisioner' }],
      }),
    ],
  };
}

// ---------------------------------------------------------------- the server

/** One RBAC permission: what a ClusterRole (namespace undefined) or a Role grants a user. */
export interface Grant {
  user: string;
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  /** The Role's namespace; undefined for a ClusterRole bound cluster-wide. */
  namespace?: string;
}

export interface ServiceAccountToken {
  token: string;
  /** `system:serviceaccount:NAMESPACE:NAME`. */
  user: string;
}

export interface KubeApiState {
  nodes: KubeNode[];
  pods: KubePod[];
  readyz: { status: number; body: string };
  /** Accept the request and never answer (timeouts). */
  hang: boolean;
  /** Bearer tokens accepted in addition to the client certificate (cluster-admin). */
  tokens: string[];
  /** Service-account tokens, authorized by `grants` only. */
  serviceAccounts: ServiceAccountToken[];
  grants: Grant[];
  /** Called before each request is served, to change the world between calls. */
  beforeRequest?: (path: string) => void;
  /** Answer a path with raw bytes instead (malformed or oversized responses). */
  override?: (path: string) => { status: number; body: string | Buffer; type?: string } | undefined;
}

export interface RecordedRequest {
  method: string;
  path: string;
  /** How the request authenticated: client certificate CN, 'token', a service account's user, 'anonymous' or 'rejected'. */
  user: string;
  accept: string | undefined;
  userAgent: string | undefined;
  /** The bearer token presented, if any. */
  token: string | undefined;
}

export interface KubeApi {
  url: string;
  port: number;
  state: KubeApiState;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

const PUBLIC_PATHS = new Set(['/readyz', '/livez', '/healthz', '/version']);

function status(
  res: ServerResponse,
  code: number,
  reason: string,
  message: string,
  details?: unknown,
): void {
  res.writeHead(code, { 'content-type': 'application/json', 'cache-control': 'no-cache, private' });
  res.end(
    JSON.stringify({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message,
      reason,
      ...(details ? { details } : {}),
      code,
    }),
  );
}

/** The verb, resource, namespace and name RBAC sees in a core/v1 request path. */
function attributes(
  path: string,
): { verb: string; resource: string; namespace?: string; name?: string } | undefined {
  const named = /^\/api\/v1\/(nodes)\/([^/]+)$/.exec(path);
  if (named) return { verb: 'get', resource: named[1]!, name: decodeURIComponent(named[2]!) };
  if (path === '/api/v1/nodes') return { verb: 'list', resource: 'nodes' };
  const pods = /^\/api\/v1\/namespaces\/([^/]+)\/pods$/.exec(path);
  if (pods) return { verb: 'list', resource: 'pods', namespace: decodeURIComponent(pods[1]!) };
  return undefined;
}

function allowed(grants: Grant[], user: string, a: ReturnType<typeof attributes>): boolean {
  if (!a) return false;
  return grants.some(
    (g) =>
      g.user === user &&
      g.apiGroups.includes('') &&
      g.resources.includes(a.resource) &&
      g.verbs.includes(a.verb) &&
      (g.namespace === undefined || g.namespace === a.namespace),
  );
}

/** kube-apiserver's 403 for an RBAC denial (staging/src/k8s.io/apiserver/pkg/endpoints/handlers/responsewriters). */
function forbidden(res: ServerResponse, user: string, path: string): void {
  const a = attributes(path);
  if (!a) {
    return status(res, 403, 'Forbidden', `forbidden: User "${user}" cannot get path "${path}"`, {});
  }
  const subject = a.name === undefined ? a.resource : `${a.resource} "${a.name}"`;
  const scope =
    a.namespace === undefined ? 'at the cluster scope' : `in the namespace "${a.namespace}"`;
  return status(
    res,
    403,
    'Forbidden',
    `${subject} is forbidden: User "${user}" cannot ${a.verb} resource "${a.resource}" in API group "" ${scope}`,
    { ...(a.name === undefined ? {} : { name: a.name }), kind: a.resource },
  );
}

function json(res: ServerResponse, body: unknown): void {
  res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache, private' });
  res.end(JSON.stringify(body));
}

/** Strip kind/apiVersion: list items carry neither in real responses. */
function asItem<T extends { kind?: string; apiVersion?: string }>(
  o: T,
): Omit<T, 'kind' | 'apiVersion'> {
  const { kind: _k, apiVersion: _a, ...rest } = o;
  return rest;
}

export interface StartKubeApiOptions {
  pki: Pki;
  state?: Partial<KubeApiState>;
  /** Listen address (default 127.0.0.1; tests may use ::1). */
  host?: '127.0.0.1' | '::1';
}

export async function startKubeApi(options: StartKubeApiOptions): Promise<KubeApi> {
  const state: KubeApiState = {
    nodes: [],
    pods: [],
    readyz: { status: 200, body: 'ok' },
    hang: false,
    tokens: [],
    serviceAccounts: [],
    grants: [],
    ...options.state,
  };
  const requests: RecordedRequest[] = [];
  const server: Server = createServer(
    {
      key: options.pki.serverKey,
      cert: options.pki.serverCert,
      ca: options.pki.caCert,
      requestCert: true,
      // kube-apiserver verifies client certificates in its authenticator, not in the handshake.
      rejectUnauthorized: false,
    },
    (req: IncomingMessage, res: ServerResponse) => {
      const url = new URL(req.url ?? '/', 'https://x');
      const path = url.pathname;
      state.beforeRequest?.(path);
      const socket = req.socket as TLSSocket;
      const peer = socket.getPeerCertificate();
      const presentedCert =
        peer !== null && typeof peer === 'object' && Object.keys(peer).length > 0;
      const auth = req.headers.authorization;
      const token = auth?.startsWith('Bearer ') ? auth.slice(7) : undefined;
      const account = state.serviceAccounts.find((a) => a.token === token);
      let user: string;
      if (presentedCert && !socket.authorized) user = 'rejected';
      else if (presentedCert) user = String(peer.subject.CN);
      else if (token !== undefined && state.tokens.includes(token)) user = 'token';
      else if (account) user = account.user;
      else if (auth !== undefined) user = 'rejected';
      else user = 'anonymous';
      requests.push({
        method: req.method ?? '',
        path,
        user,
        accept: req.headers.accept,
        userAgent: req.headers['user-agent'],
        token,
      });
      if (state.hang) return; // never answer
      const raw = state.override?.(path);
      if (raw) {
        res.writeHead(raw.status, { 'content-type': raw.type ?? 'application/json' });
        return res.end(raw.body);
      }
      if (user === 'rejected') return status(res, 401, 'Unauthorized', 'Unauthorized');
      // RBAC for service accounts; /readyz and friends are public (system:public-info-viewer).
      if (account && user === account.user && !PUBLIC_PATHS.has(path)) {
        if (!allowed(state.grants, user, attributes(path))) return forbidden(res, user, path);
      }
      if (user === 'anonymous' && !PUBLIC_PATHS.has(path)) {
        return status(
          res,
          403,
          'Forbidden',
          `forbidden: User "system:anonymous" cannot get path "${path}"`,
          {},
        );
      }
      if (req.method !== 'GET')
        return status(
          res,
          405,
          'MethodNotAllowed',
          'the server does not allow this method on the requested resource',
        );
      if (path === '/readyz') {
        res.writeHead(state.readyz.status, {
          'content-type': 'text/plain; charset=utf-8',
          'x-content-type-options': 'nosniff',
        });
        return res.end(state.readyz.body);
      }
      if (path === '/api/v1/nodes') {
        return json(res, {
          kind: 'NodeList',
          apiVersion: 'v1',
          metadata: { resourceVersion: '48300' },
          items: state.nodes.map(asItem),
        });
      }
      const nodeMatch = /^\/api\/v1\/nodes\/([^/]+)$/.exec(path);
      if (nodeMatch) {
        const name = decodeURIComponent(nodeMatch[1]!);
        const node = state.nodes.find((n) => n.metadata.name === name);
        if (!node)
          return status(res, 404, 'NotFound', `nodes "${name}" not found`, { name, kind: 'nodes' });
        return json(res, { kind: 'Node', apiVersion: 'v1', ...asItem(node) });
      }
      const podsMatch = /^\/api\/v1\/namespaces\/([^/]+)\/pods$/.exec(path);
      if (podsMatch) {
        const ns = decodeURIComponent(podsMatch[1]!);
        const items = state.pods.filter((p) => p.metadata.namespace === ns).map(asItem);
        return json(res, {
          kind: 'PodList',
          apiVersion: 'v1',
          metadata: { resourceVersion: '48301' },
          items,
        });
      }
      return status(res, 404, 'NotFound', 'the server could not find the requested resource', {});
    },
  );
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `https://${host === '::1' ? '[::1]' : host}:${port}`,
    port,
    state,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ---------------------------------------------------------------- kubeconfig files

export interface KubeconfigSpec {
  server: string;
  /** PEM CA put in certificate-authority-data (or a path for certificate-authority). */
  caData?: string;
  caFile?: string;
  certData?: string;
  certFile?: string;
  keyData?: string;
  keyFile?: string;
  token?: string;
  tlsServerName?: string;
  insecureSkipTlsVerify?: boolean;
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

/** A kubeconfig document as KubeSolo writes admin.kubeconfig (one cluster, user, context). */
export function kubeconfigYaml(spec: KubeconfigSpec): string {
  const cluster: Record<string, unknown> = { server: spec.server };
  if (spec.caData !== undefined) cluster['certificate-authority-data'] = b64(spec.caData);
  if (spec.caFile !== undefined) cluster['certificate-authority'] = spec.caFile;
  if (spec.tlsServerName !== undefined) cluster['tls-server-name'] = spec.tlsServerName;
  if (spec.insecureSkipTlsVerify) cluster['insecure-skip-tls-verify'] = true;
  const user: Record<string, unknown> = {};
  if (spec.certData !== undefined) user['client-certificate-data'] = b64(spec.certData);
  if (spec.certFile !== undefined) user['client-certificate'] = spec.certFile;
  if (spec.keyData !== undefined) user['client-key-data'] = b64(spec.keyData);
  if (spec.keyFile !== undefined) user['client-key'] = spec.keyFile;
  if (spec.token !== undefined) user.token = spec.token;
  return toYaml({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'kubesolo', cluster }],
    users: [{ name: 'admin', user }],
    contexts: [{ name: 'kubesolo', context: { cluster: 'kubesolo', user: 'admin' } }],
    'current-context': 'kubesolo',
    preferences: {},
  });
}

/** Admin kubeconfig for `api` with the valid client certificate, as data fields. */
export function adminKubeconfig(
  api: KubeApi,
  pki: Pki,
  overrides: Partial<KubeconfigSpec> = {},
): string {
  return kubeconfigYaml({
    server: api.url,
    caData: pki.caCert,
    certData: pki.clientCert,
    keyData: pki.clientKey,
    ...overrides,
  });
}
