/**
 * The Helm chart, checked with the pinned helm binary: lint, the objects `helm template`
 * renders, the RBAC rules in both modes, and values that the schema must reject. The install
 * into a real API server is in test/e2e/chart-install.test.ts.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseAllDocuments } from 'yaml';
import { ensureHelm, runHelm } from '../../src/envtest/index.ts';

const chart = fileURLToPath(new URL('../../charts/isc-sa-operator', import.meta.url));
const root = fileURLToPath(new URL('../..', import.meta.url));

interface RenderedObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  // biome-ignore lint/suspicious/noExplicitAny: rendered objects of many kinds.
  [field: string]: any;
}

interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  resourceNames?: string[];
  verbs: string[];
}

let helm: string;

test.before(async () => {
  helm = await ensureHelm();
});

async function render(setValues: string[] = []): Promise<RenderedObject[]> {
  const args = ['template', 'isc', chart, '--namespace', 'isc-system'];
  for (const value of setValues) args.push('--set', value);
  const { stdout } = await runHelm(helm, args);
  return parseAllDocuments(stdout)
    .map((document) => document.toJS() as RenderedObject | null)
    .filter((object): object is RenderedObject => object !== null);
}

function find(objects: RenderedObject[], kind: string, name: string, namespace?: string) {
  const found = objects.find(
    (object) =>
      object.kind === kind &&
      object.metadata.name === name &&
      (namespace === undefined || object.metadata.namespace === namespace),
  );
  assert.ok(found, `no ${kind} ${namespace ?? ''}/${name} rendered`);
  return found!;
}

/** Flattens rules into sorted "group/resource[name]: verb" strings for exact comparison. */
function permissions(rules: PolicyRule[]): string[] {
  const flat: string[] = [];
  for (const rule of rules) {
    for (const group of rule.apiGroups) {
      for (const resource of rule.resources) {
        const names = rule.resourceNames ? `[${rule.resourceNames.join(',')}]` : '';
        for (const verb of rule.verbs) flat.push(`${group}/${resource}${names}: ${verb}`);
      }
    }
  }
  return flat.sort();
}

const tenantPermissions = [
  'isc.sailpoint/tenants/status: patch',
  'isc.sailpoint/tenants: list',
  'isc.sailpoint/tenants: watch',
];
const namespacedPermissions = [
  '/events: create',
  '/secrets: create',
  '/secrets: delete',
  '/secrets: get',
  '/secrets: update',
  'isc.sailpoint/serviceaccounts/status: patch',
  'isc.sailpoint/serviceaccounts: list',
  'isc.sailpoint/serviceaccounts: patch',
  'isc.sailpoint/serviceaccounts: watch',
];

test('helm lint passes', async () => {
  const { stdout } = await runHelm(helm, ['lint', '--strict', chart]);
  assert.match(stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
});

test('defaults render the cluster-wide install', async () => {
  const objects = await render();
  const kinds = objects.map((object) => `${object.kind}/${object.metadata.name}`).sort();
  assert.equal(kinds, [
    'ClusterRole/isc-isc-sa-operator',
    'ClusterRoleBinding/isc-isc-sa-operator',
    'Deployment/isc-isc-sa-operator',
    'PodDisruptionBudget/isc-isc-sa-operator',
    'Role/isc-isc-sa-operator-leader-election',
    'RoleBinding/isc-isc-sa-operator-leader-election',
    'Service/isc-isc-sa-operator-metrics',
    'ServiceAccount/isc-isc-sa-operator',
  ]);
  for (const object of objects) {
    if (!object.kind.startsWith('Cluster')) {
      assert.is(object.metadata.namespace, 'isc-system', `namespace of ${object.kind}`);
    }
  }
});

test('deployment configures the operator', async () => {
  const deployment = find(await render(), 'Deployment', 'isc-isc-sa-operator');
  const pod = deployment.spec.template.spec;
  assert.is(pod.serviceAccountName, 'isc-isc-sa-operator');
  assert.is(deployment.spec.replicas, 1);
  assert.is(deployment.spec.strategy.type, 'Recreate');
  const [container] = pod.containers;
  assert.is(container.image, 'localhost/isc-sa-operator:0.1.0');
  assert.equal(container.args, ['run']);

  const env = Object.fromEntries(
    container.env.map((variable: { name: string; value?: string; valueFrom?: unknown }) => [
      variable.name,
      variable.value ?? variable.valueFrom,
    ]),
  );
  assert.is(env.OPERATOR_METRICS_ADDRESS, '0.0.0.0:8080');
  assert.is(env.OPERATOR_LEADER_ELECTION, 'true');
  assert.is(env.OPERATOR_LEADER_ELECTION_LEASE, 'isc-sa-operator');
  assert.equal(env.POD_NAMESPACE, { fieldRef: { fieldPath: 'metadata.namespace' } });

  assert.is(container.livenessProbe.httpGet.path, '/healthz');
  assert.is(container.livenessProbe.httpGet.port, 'metrics');
  assert.is(container.readinessProbe.httpGet.path, '/readyz');
  assert.is(container.readinessProbe.httpGet.port, 'metrics');
  assert.equal(container.ports, [{ name: 'metrics', containerPort: 8080, protocol: 'TCP' }]);
});

test('deployment runs restricted', async () => {
  const deployment = find(await render(), 'Deployment', 'isc-isc-sa-operator');
  const pod = deployment.spec.template.spec;
  const security = pod.containers[0].securityContext;
  assert.is(pod.securityContext.runAsNonRoot, true);
  assert.is(pod.securityContext.runAsUser, 65532);
  assert.is(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
  assert.is(security.runAsNonRoot, true);
  assert.is(security.readOnlyRootFilesystem, true);
  assert.is(security.allowPrivilegeEscalation, false);
  assert.equal(security.capabilities.drop, ['ALL']);
  assert.is(security.seccompProfile.type, 'RuntimeDefault');
});

test('cluster-wide RBAC grants exactly the used verbs', async () => {
  const objects = await render();
  const clusterRole = find(objects, 'ClusterRole', 'isc-isc-sa-operator');
  assert.equal(
    permissions(clusterRole.rules),
    [...tenantPermissions, ...namespacedPermissions].sort(),
  );
  const leaderRole = find(objects, 'Role', 'isc-isc-sa-operator-leader-election', 'isc-system');
  assert.equal(permissions(leaderRole.rules), [
    'coordination.k8s.io/leases: create',
    'coordination.k8s.io/leases[isc-sa-operator]: get',
    'coordination.k8s.io/leases[isc-sa-operator]: update',
  ]);
  const binding = find(objects, 'ClusterRoleBinding', 'isc-isc-sa-operator');
  assert.equal(binding.subjects, [
    { kind: 'ServiceAccount', name: 'isc-isc-sa-operator', namespace: 'isc-system' },
  ]);
});

test('namespaced mode uses Roles per namespace', async () => {
  const objects = await render(['watchNamespaces={team-a,team-b}']);
  const clusterRoles = objects.filter((object) => object.kind === 'ClusterRole');
  assert.equal(
    clusterRoles.map((role) => role.metadata.name),
    ['isc-isc-sa-operator-tenants'],
  );
  assert.equal(permissions(clusterRoles[0]!.rules), tenantPermissions);
  for (const namespace of ['team-a', 'team-b']) {
    const role = find(objects, 'Role', 'isc-isc-sa-operator', namespace);
    assert.equal(permissions(role.rules), namespacedPermissions, `rules in ${namespace}`);
    const binding = find(objects, 'RoleBinding', 'isc-isc-sa-operator', namespace);
    assert.is(binding.roleRef.kind, 'Role');
  }
  const roles = objects.filter((object) => object.kind === 'Role');
  assert.is(roles.length, 3, 'two watched namespaces and the leader election Role');
});

test('namespaced mode grants the tenant secret by name', async () => {
  const objects = await render([
    'watchNamespaces={team-a}',
    'tenant.create=true',
    'tenant.baseUrl=https://acme.api.identitynow.com',
    'tenant.credentials.clientId=id',
    'tenant.credentials.clientSecret=secret',
  ]);
  const role = find(objects, 'Role', 'isc-isc-sa-operator-tenant-credentials', 'isc-system');
  assert.equal(permissions(role.rules), ['/secrets[isc-isc-sa-operator-credentials]: get']);
});

test('csv sync keeps files with a Role', async () => {
  const defaults = await render();
  assert.not.ok(
    defaults.some((object) => object.metadata.name === 'isc-isc-sa-operator-csv-files'),
  );
  const objects = await render(['csvSync.keepUploadedFile=true']);
  const role = find(objects, 'Role', 'isc-isc-sa-operator-csv-files', 'isc-system');
  assert.equal(permissions(role.rules), ['/configmaps: create', '/configmaps: update']);
  const binding = find(objects, 'RoleBinding', 'isc-isc-sa-operator-csv-files', 'isc-system');
  assert.is(binding.roleRef.name, 'isc-isc-sa-operator-csv-files');
});

test('tenant with inline credentials', async () => {
  const objects = await render([
    'tenant.create=true',
    'tenant.baseUrl=https://acme.api.identitynow.com',
    'tenant.credentials.clientId=client-id',
    'tenant.credentials.clientSecret=client-secret',
    'tenant.ownerIdentityId=2c9180835d2e5168015d32f890ca1581',
  ]);
  const tenant = find(objects, 'Tenant', 'default');
  assert.is(tenant.apiVersion, 'isc.sailpoint/v1alpha1');
  assert.is(tenant.metadata.annotations?.['isc.sailpoint/default-tenant'], 'true');
  assert.is(tenant.metadata.annotations?.['helm.sh/resource-policy'], 'keep');
  assert.equal(tenant.spec, {
    baseUrl: 'https://acme.api.identitynow.com',
    apiVersion: 'v2025',
    credentialsSecretRef: { namespace: 'isc-system', name: 'isc-isc-sa-operator-credentials' },
    source: { name: 'Service Accounts' },
    identityProfile: { name: 'Service Accounts' },
    owner: { identityId: '2c9180835d2e5168015d32f890ca1581' },
    rateLimit: { requestsPer10Seconds: 100 },
  });
  const secret = find(objects, 'Secret', 'isc-isc-sa-operator-credentials', 'isc-system');
  assert.equal(secret.stringData, { clientId: 'client-id', clientSecret: 'client-secret' });
});

test('tenant with an existing secret', async () => {
  const objects = await render([
    'tenant.create=true',
    'tenant.baseUrl=https://acme.api.identitynow.com',
    'tenant.credentials.existingSecret.name=isc-credentials',
    'tenant.credentials.existingSecret.namespace=vault-synced',
  ]);
  const tenant = find(objects, 'Tenant', 'default');
  assert.equal(tenant.spec.credentialsSecretRef, {
    namespace: 'vault-synced',
    name: 'isc-credentials',
  });
  assert.is(objects.filter((object) => object.kind === 'Secret').length, 0);
});

test('service monitor selects the metrics service', async () => {
  const objects = await render([
    'metrics.serviceMonitor.enabled=true',
    'metrics.serviceMonitor.labels.release=prometheus',
  ]);
  const monitor = find(objects, 'ServiceMonitor', 'isc-isc-sa-operator', 'isc-system');
  const service = find(objects, 'Service', 'isc-isc-sa-operator-metrics', 'isc-system');
  assert.is(monitor.metadata.labels?.release, 'prometheus');
  for (const [label, value] of Object.entries(monitor.spec.selector.matchLabels)) {
    assert.is(service.metadata.labels?.[label], value, `service label ${label}`);
  }
  assert.is(monitor.spec.endpoints[0].port, service.spec.ports[0].name);
});

test('pdb takes minAvailable instead', async () => {
  const objects = await render([
    'podDisruptionBudget.maxUnavailable=null',
    'podDisruptionBudget.minAvailable=1',
  ]);
  const budget = find(objects, 'PodDisruptionBudget', 'isc-isc-sa-operator', 'isc-system');
  assert.is(budget.spec.minAvailable, 1);
  assert.is(budget.spec.maxUnavailable, undefined);
});

/** Values the schema must reject, and a part of helm's message that names the problem. */
const invalidValues: Array<{ name: string; set: string[]; message: RegExp }> = [
  { name: 'zero replicas', set: ['replicaCount=0'], message: /replicaCount/ },
  { name: 'replicas as a string', set: ['replicaCount=two'], message: /replicaCount/ },
  {
    name: 'two replicas without leader election',
    set: ['replicaCount=2', 'operator.leaderElection.enabled=false'],
    message: /enabled/,
  },
  { name: 'empty image repository', set: ['image.repository='], message: /repository/ },
  { name: 'unknown pull policy', set: ['image.pullPolicy=Sometimes'], message: /pullPolicy/ },
  { name: 'malformed digest', set: ['image.digest=sha256:abc'], message: /digest/ },
  { name: 'unknown top-level key', set: ['replicas=2'], message: /replicas/ },
  { name: 'misspelled nested key', set: ['operator.wrokers=2'], message: /wrokers/ },
  { name: 'invalid namespace name', set: ['watchNamespaces={Team_A}'], message: /watchNamespaces/ },
  {
    name: 'duplicate namespaces',
    set: ['watchNamespaces={team-a,team-a}'],
    message: /watchNamespaces/,
  },
  { name: 'zero workers', set: ['operator.workers=0'], message: /workers/ },
  { name: 'unknown log level', set: ['operator.logLevel=verbose'], message: /logLevel/ },
  {
    name: 'metrics port out of range',
    set: ['operator.metricsPort=70000'],
    message: /metricsPort/,
  },
  { name: 'zero heap percent', set: ['heap.percentOfMemoryLimit=0'], message: /percentOfMemory/ },
  {
    name: 'heap percent above 100',
    set: ['heap.percentOfMemoryLimit=101'],
    message: /percentOfMemoryLimit/,
  },
  {
    name: 'heap percent as text',
    set: ['heap.percentOfMemoryLimit=half'],
    message: /percentOfMemoryLimit/,
  },
  {
    name: 'both pdb fields',
    set: ['podDisruptionBudget.minAvailable=1'],
    message: /podDisruptionBudget/,
  },
  {
    name: 'scrape interval without unit',
    set: ['metrics.serviceMonitor.interval=30'],
    message: /interval/,
  },
  {
    name: 'tenant without base url',
    set: ['tenant.create=true', 'tenant.credentials.existingSecret.name=isc-credentials'],
    message: /baseUrl/,
  },
  {
    name: 'tenant base url not http',
    set: [
      'tenant.create=true',
      'tenant.baseUrl=ftp://acme.example.com',
      'tenant.credentials.existingSecret.name=isc-credentials',
    ],
    message: /baseUrl/,
  },
  {
    name: 'tenant without credentials',
    set: ['tenant.create=true', 'tenant.baseUrl=https://acme.api.identitynow.com'],
    message: /credentials/,
  },
  {
    name: 'tenant with client id only',
    set: [
      'tenant.create=true',
      'tenant.baseUrl=https://acme.api.identitynow.com',
      'tenant.credentials.clientId=id',
    ],
    message: /credentials/,
  },
  {
    name: 'tenant with both credential kinds',
    set: [
      'tenant.create=true',
      'tenant.baseUrl=https://acme.api.identitynow.com',
      'tenant.credentials.clientId=id',
      'tenant.credentials.clientSecret=secret',
      'tenant.credentials.existingSecret.name=isc-credentials',
    ],
    message: /credentials/,
  },
  { name: 'unknown tenant api version', set: ['tenant.apiVersion=v3'], message: /apiVersion/ },
  {
    name: 'rate limit above maximum',
    set: ['tenant.requestsPer10Seconds=5000'],
    message: /requestsPer10Seconds/,
  },
];

for (const testCase of invalidValues) {
  test(`schema rejects ${testCase.name}`, async () => {
    let failure: Error | undefined;
    try {
      await render(testCase.set);
    } catch (error) {
      failure = error as Error;
    }
    assert.ok(failure, `helm template accepted ${testCase.set.join(' ')}`);
    assert.match(failure!.message, /values don't meet the specifications of the schema/);
    assert.match(failure!.message, testCase.message);
  });
}

test('committed manifests match the chart', async () => {
  const result = await new Promise<{ code: number | null; output: string }>((resolve) => {
    const child = spawn(process.execPath, ['scripts/render-manifests.ts', '--check'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on('close', (code) => resolve({ code, output }));
  });
  assert.is(result.code, 0, result.output);
});

test.run();
