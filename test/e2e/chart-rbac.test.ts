/**
 * End to end: the chart's cluster-wide RBAC is exactly what the operator uses.
 *
 * Method: kube-apiserver runs with an audit policy that records every request of the chart's
 * ServiceAccount. The chart is installed, and the operator runs as its own process with a
 * TokenRequest token of that ServiceAccount, so each call passes the chart's RBAC and nothing
 * else. It handles one scenario: a Tenant turns Ready, a ServiceAccount resource without
 * accountId is created (spec patch, finalizer, status, Events), updated, and deleted through
 * its finalizer, while the operator holds and renews its Lease. Then the test checks that
 * - no audited request was denied, and each was allowed by one of the chart's bindings, which
 *   are the only ones naming the ServiceAccount (so the operator never needs cluster-admin);
 * - every (verb, resource) pair the chart grants matches at least one audited request;
 * - for each such pair, the API server denies the audited requests it matched once the pair is
 *   removed from the installed role. Running the operator once per removed pair would take
 *   minutes, so a SubjectAccessReview submits the same request to the same RBAC authorizer.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ApiException,
  AuthorizationV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  PatchStrategy,
  RbacAuthorizationV1Api,
  setHeaderOptions,
  type V1PolicyRule,
} from '@kubernetes/client-node';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { stringify } from 'yaml';
import { type RunningEmulator, startEmulator } from '../../src/emulator/server.ts';
import {
  ensureHelm,
  type LocalCluster,
  runHelm,
  startLocalCluster,
} from '../../src/envtest/index.ts';
import { loadKubeConfig } from '../../src/kube/client.ts';
import { group, serviceAccountPlural, tenantPlural, version } from '../../src/kube/types.ts';
import { deploymentEnvironment, writeServiceAccountKubeconfig } from '../support/chart-env.ts';
import { type OperatorProcess, startOperatorProcess } from '../support/operator-process.ts';
import { waitFor } from '../support/wait.ts';

const chart = fileURLToPath(new URL('../../charts/isc-sa-operator', import.meta.url));
const operatorClient = { clientId: 'rbac-operator', clientSecret: `op-${crypto.randomUUID()}` };
const releaseNamespace = 'isc-system';
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const jsonPatch = setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);
const serviceAccountName = 'isc-isc-sa-operator';
const operatorUser = `system:serviceaccount:${releaseNamespace}:${serviceAccountName}`;

/** The fields of an audit.k8s.io/v1 Event that this test reads. */
interface AuditEvent {
  stage: string;
  verb: string;
  requestURI: string;
  user: { username: string; groups?: string[] };
  objectRef?: {
    apiGroup?: string;
    resource?: string;
    subresource?: string;
    namespace?: string;
    name?: string;
  };
  responseStatus?: { code?: number };
  annotations?: Record<string, string>;
}

/** One authorization request: what RBAC decides on, as kube-apiserver builds it. */
interface RequestAttributes {
  verb: string;
  group: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
}

/** One granted (verb, resource) pair of an installed role, and where the grant applies. */
interface Grant {
  roleKind: 'ClusterRole' | 'Role';
  roleName: string;
  /** Namespace of a Role. A ClusterRole bound by a ClusterRoleBinding applies everywhere. */
  namespace?: string;
  group: string;
  /** "resource" or "resource/subresource", as RBAC rules name them. */
  resource: string;
  resourceName?: string;
  verb: string;
}

let auditDirectory: string;
let cluster: LocalCluster;
let emulator: RunningEmulator;
let helm: string;
let admin: KubeConfig;
let operator: OperatorProcess | undefined;

test.before(async () => {
  auditDirectory = await mkdtemp(join(tmpdir(), 'isc-chart-audit-'));
  const policyPath = join(auditDirectory, 'policy.yaml');
  await writeFile(
    policyPath,
    stringify({
      apiVersion: 'audit.k8s.io/v1',
      kind: 'Policy',
      // RequestReceived events carry no authorization decision. Watches still log
      // ResponseStarted.
      omitStages: ['RequestReceived'],
      rules: [{ level: 'Metadata', users: [operatorUser] }, { level: 'None' }],
    }),
  );
  helm = await ensureHelm();
  cluster = await startLocalCluster({
    apiServerFlags: [
      `--audit-policy-file=${policyPath}`,
      `--audit-log-path=${join(auditDirectory, 'audit.log')}`,
      // Write each event before the response, so the log is complete once the operator stops.
      '--audit-log-mode=blocking',
    ],
  });
  emulator = await startEmulator({ clients: [operatorClient], asyncDelayMs: 200 });
  admin = loadKubeConfig(cluster.kubeconfigPath);
});

test.after(async () => {
  await operator?.stop();
  await emulator?.close();
  await cluster?.stop();
  if (auditDirectory) await rm(auditDirectory, { recursive: true, force: true });
});

/** Writes a kubeconfig with a token of the chart's ServiceAccount and returns its path. */
function operatorKubeconfig(): Promise<string> {
  return writeServiceAccountKubeconfig(
    admin,
    cluster.directory,
    releaseNamespace,
    serviceAccountName,
  );
}

type Conditioned = {
  metadata?: { generation?: number };
  status?: { observedGeneration?: number; conditions?: Array<Record<string, string>> };
};

/** Returns the Ready reason once Ready is True for the current generation. */
function readyReason(resource: Conditioned): string | undefined {
  const ready = resource.status?.conditions?.find((condition) => condition.type === 'Ready');
  if (ready?.status !== 'True') return undefined;
  const generation = resource.metadata?.generation;
  if (generation !== undefined && resource.status?.observedGeneration !== generation) {
    return undefined;
  }
  return ready.reason;
}

/** Adds the operator's output to a failed wait, which usually explains it. */
function withOperatorOutput(error: Error): never {
  throw new Error(`${error.message}\noperator output:\n${operator?.output()}`);
}

/**
 * Returns the attributes RBAC authorizes an audited request by. Create, list and watch carry no
 * object name in their authorization check, so rules with resourceNames never match them.
 */
function requestAttributes(event: AuditEvent): RequestAttributes {
  const reference = event.objectRef ?? {};
  const named = !['create', 'list', 'watch'].includes(event.verb);
  return {
    verb: event.verb,
    group: reference.apiGroup ?? '',
    resource: reference.resource ?? '',
    subresource: reference.subresource ?? '',
    namespace: reference.namespace ?? '',
    name: named ? (reference.name ?? '') : '',
  };
}

function describeRequest(request: RequestAttributes): string {
  const resource = request.subresource
    ? `${request.resource}/${request.subresource}`
    : request.resource;
  const where = request.namespace ? ` in ${request.namespace}` : '';
  const name = request.name ? ` ${request.name}` : '';
  return `${request.verb} ${request.group || 'core'}/${resource}${name}${where}`;
}

function describeGrant(grant: Grant): string {
  const name = grant.resourceName ? `[${grant.resourceName}]` : '';
  return `${grant.roleKind} ${grant.roleName}: ${grant.verb} ${grant.group || 'core'}/${grant.resource}${name}`;
}

/** Returns true when the grant alone would allow the request under RBAC's matching rules. */
function grantMatches(grant: Grant, request: RequestAttributes): boolean {
  const resource = request.subresource
    ? `${request.resource}/${request.subresource}`
    : request.resource;
  if (grant.verb !== request.verb || grant.group !== request.group) return false;
  if (grant.resource !== resource) return false;
  if (grant.namespace !== undefined && grant.namespace !== request.namespace) return false;
  return grant.resourceName === undefined || grant.resourceName === request.name;
}

/** Flattens policy rules into one Grant per group, resource, resource name and verb. */
function flattenRules(
  rules: V1PolicyRule[],
  role: Pick<Grant, 'roleKind' | 'roleName' | 'namespace'>,
): Grant[] {
  const grants: Grant[] = [];
  for (const rule of rules) {
    assert.not.ok(rule.nonResourceURLs?.length, `${role.roleName} grants non-resource URLs`);
    const names = rule.resourceNames?.length ? rule.resourceNames : [undefined];
    for (const apiGroup of rule.apiGroups ?? []) {
      for (const resource of rule.resources ?? []) {
        for (const resourceName of names) {
          for (const verb of rule.verbs) {
            assert.not.ok(verb === '*' || resource === '*', `${role.roleName} uses a wildcard`);
            grants.push({
              ...role,
              group: apiGroup,
              resource,
              verb,
              ...(resourceName ? { resourceName } : {}),
            });
          }
        }
      }
    }
  }
  return grants;
}

/** Turns grants back into policy rules, one rule per grant. */
function rulesOf(grants: Grant[]): V1PolicyRule[] {
  return grants.map((grant) => ({
    apiGroups: [grant.group],
    resources: [grant.resource],
    verbs: [grant.verb],
    ...(grant.resourceName ? { resourceNames: [grant.resourceName] } : {}),
  }));
}

function bindsOperator(subjects: Array<{ kind: string; name: string; namespace?: string }> = []) {
  return subjects.some(
    (subject) =>
      subject.kind === 'ServiceAccount' &&
      subject.name === serviceAccountName &&
      subject.namespace === releaseNamespace,
  );
}

async function readAuditEvents(): Promise<AuditEvent[]> {
  const text = await readFile(join(auditDirectory, 'audit.log'), 'utf8');
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as AuditEvent)
    .filter((event) => event.user.username === operatorUser);
}

let auditEvents: AuditEvent[] = [];
let grants: Grant[] = [];

test('scenario runs with chart RBAC', async () => {
  const install = ['install', 'isc', chart, '--namespace', releaseNamespace, '--create-namespace'];
  for (const value of [
    'tenant.create=true',
    `tenant.baseUrl=${emulator.url}`,
    `tenant.credentials.clientId=${operatorClient.clientId}`,
    `tenant.credentials.clientSecret=${operatorClient.clientSecret}`,
  ]) {
    install.push('--set', value);
  }
  await runHelm(helm, install, { kubeconfigPath: cluster.kubeconfigPath });

  operator = startOperatorProcess({
    ...(await deploymentEnvironment(admin, releaseNamespace, serviceAccountName)),
    KUBECONFIG: await operatorKubeconfig(),
    OPERATOR_METRICS_ADDRESS: '127.0.0.1:0',
    ISC_IDENTITY_PROCESSING_INTERVAL_SECONDS: '1',
  });

  const customObjects = admin.makeApiClient(CustomObjectsApi);
  const tenantReason = await waitFor(
    'the Tenant to be Ready',
    async () =>
      readyReason(
        await customObjects.getClusterCustomObject({
          group,
          version,
          plural: tenantPlural,
          name: 'default',
        }),
      ),
    60_000,
  ).catch(withOperatorOutput);
  assert.is(tenantReason, 'Connected');

  const resource = { group, version, namespace: 'default', plural: serviceAccountPlural };
  // Without spec.accountId the operator patches one into the spec.
  await customObjects.createNamespacedCustomObject({
    ...resource,
    body: {
      apiVersion: `${group}/${version}`,
      kind: 'ServiceAccount',
      metadata: { name: 'rbac-bot' },
      spec: { email: 'rbac-bot@example.com', purpose: 'RBAC test' },
    },
  });
  const read = () => customObjects.getNamespacedCustomObject({ ...resource, name: 'rbac-bot' });
  assert.is(
    await waitFor(
      'the ServiceAccount to converge',
      async () => readyReason(await read()),
      90_000,
    ).catch(withOperatorOutput),
    'Converged',
  );
  const created = await read();
  assert.match(created.spec.accountId, /^sa-[0-9a-f]{12}$/, 'generated spec.accountId');
  assert.ok(created.metadata.finalizers?.includes('isc.sailpoint/account-cleanup'), 'finalizer');

  await customObjects.patchNamespacedCustomObject(
    { ...resource, name: 'rbac-bot', body: { spec: { purpose: 'RBAC test, updated' } } },
    mergePatch,
  );
  assert.is(
    await waitFor('the update to converge', async () => readyReason(await read()), 90_000).catch(
      withOperatorOutput,
    ),
    'Converged',
  );

  // A token minted and revoked: the operator reads the bootstrap Secret, finds a Secret of the
  // token's name already there, replaces it, and deletes it on revocation. The Secret created
  // here carries the operator's labels and an ownerReference to the resource, like one the
  // operator wrote before a rotation. The operator replaces no other Secret.
  const core = admin.makeApiClient(CoreV1Api);
  const current = await read();
  const identityId = current.status.identityId as string;
  const bootstrap = (await (
    await fetch(
      `${emulator.url}/__admin/identities/${identityId}/personal-access-tokens?name=bootstrap`,
      { method: 'POST' },
    )
  ).json()) as { id: string; secret: string };
  await core.createNamespacedSecret({
    namespace: 'default',
    body: {
      metadata: { name: 'rbac-bot-bootstrap' },
      stringData: { clientId: bootstrap.id, clientSecret: bootstrap.secret },
    },
  });
  await core.createNamespacedSecret({
    namespace: 'default',
    body: {
      metadata: {
        name: 'rbac-bot-token',
        labels: {
          'app.kubernetes.io/managed-by': 'isc-sa-operator',
          'isc.sailpoint/service-account': 'rbac-bot',
        },
        ownerReferences: [
          {
            apiVersion: `${group}/${version}`,
            kind: 'ServiceAccount',
            name: 'rbac-bot',
            uid: current.metadata.uid,
            controller: true,
          },
        ],
      },
      stringData: { placeholder: 'x' },
    },
  });
  await customObjects.patchNamespacedCustomObject(
    {
      ...resource,
      name: 'rbac-bot',
      body: {
        spec: {
          bootstrapCredentialsSecretRef: { name: 'rbac-bot-bootstrap' },
          tokens: [{ name: 'rbac', secretName: 'rbac-bot-token' }],
        },
      },
    },
    mergePatch,
  );
  await waitFor(
    'the token to be minted',
    async () => ((await read()).status?.tokens?.[0]?.id ? true : undefined),
    90_000,
  ).catch(withOperatorOutput);
  await customObjects.patchNamespacedCustomObject(
    { ...resource, name: 'rbac-bot', body: { spec: { tokens: null } } },
    mergePatch,
  );
  await waitFor(
    'the token to be revoked',
    async () => (((await read()).status?.tokens ?? []).length === 0 ? true : undefined),
    90_000,
  ).catch(withOperatorOutput);

  await customObjects.deleteNamespacedCustomObject({ ...resource, name: 'rbac-bot' });
  await waitFor(
    'the finalizer to release the ServiceAccount',
    async () => {
      try {
        await read();
        return undefined;
      } catch (error) {
        if (error instanceof ApiException && error.code === 404) return true;
        throw error;
      }
    },
    90_000,
  ).catch(withOperatorOutput);

  const events = await admin.makeApiClient(CoreV1Api).listNamespacedEvent({ namespace: 'default' });
  assert.ok(
    events.items.some((event) => event.source?.component === 'isc-sa-operator'),
    'the operator recorded no Event',
  );

  // The first acquire creates the Lease; a renewal replaces it with a later renewTime.
  const leases = admin.makeApiClient(CoordinationV1Api);
  await waitFor('the Lease to be renewed', async () => {
    const lease = await leases.readNamespacedLease({
      namespace: releaseNamespace,
      name: 'isc-sa-operator',
    });
    const { acquireTime, renewTime } = lease.spec ?? {};
    return acquireTime && renewTime && String(acquireTime) !== String(renewTime) ? true : undefined;
  });

  // The operator releases the Lease (get, then update) on SIGTERM. NOTE: the process may
  // then stay alive for the rest of TenantController.start's 30-second settle timer, so the
  // test kills it 2 s after SIGTERM instead of waiting for it to exit.
  const stopped = operator;
  operator = undefined;
  await stopped.stop(2_000);
  assert.match(stopped.output(), /released leadership/, 'the operator kept the Lease');

  auditEvents = await readAuditEvents();
  assert.ok(auditEvents.length > 0, 'the audit log holds no request of the operator');
});

test('operator is bound only by the chart', async () => {
  const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
  const clusterBindings = (await rbac.listClusterRoleBinding()).items.filter((binding) =>
    bindsOperator(binding.subjects),
  );
  const roleBindings = (await rbac.listRoleBindingForAllNamespaces()).items.filter((binding) =>
    bindsOperator(binding.subjects),
  );
  assert.equal(
    clusterBindings.map((binding) => binding.metadata?.name),
    [serviceAccountName],
  );
  assert.equal(
    roleBindings.map((binding) => `${binding.metadata?.namespace}/${binding.metadata?.name}`),
    [`${releaseNamespace}/${serviceAccountName}-leader-election`],
  );
  for (const binding of [...clusterBindings, ...roleBindings]) {
    assert.is(binding.metadata?.labels?.['app.kubernetes.io/instance'], 'isc', 'chart label');
  }

  const clusterRole = await rbac.readClusterRole({ name: clusterBindings[0]!.roleRef.name });
  const leaderRole = await rbac.readNamespacedRole({
    namespace: releaseNamespace,
    name: roleBindings[0]!.roleRef.name,
  });
  grants = [
    ...flattenRules(clusterRole.rules ?? [], {
      roleKind: 'ClusterRole',
      roleName: clusterRole.metadata!.name!,
    }),
    ...flattenRules(leaderRole.rules ?? [], {
      roleKind: 'Role',
      roleName: leaderRole.metadata!.name!,
      namespace: releaseNamespace,
    }),
  ];
  assert.ok(grants.length > 0, 'the chart granted nothing');
});

test('every audited request was allowed', async () => {
  for (const event of auditEvents) {
    const request = describeRequest(requestAttributes(event));
    assert.ok(event.objectRef, `non-resource request ${event.verb} ${event.requestURI}`);
    assert.is(event.annotations?.['authorization.k8s.io/decision'], 'allow', request);
    assert.is.not(event.responseStatus?.code, 403, request);
    assert.match(
      event.annotations?.['authorization.k8s.io/reason'] ?? '',
      // The reason names the binding as "name" or, for a RoleBinding, "name/namespace".
      new RegExp(`RoleBinding "${serviceAccountName}(-leader-election/${releaseNamespace})?"`),
      `${request} was allowed by a binding outside the chart`,
    );
    const granted = grants.some((grant) => grantMatches(grant, requestAttributes(event)));
    assert.ok(granted, `${request} matches no rule of the chart`);
  }
});

test('every chart rule is used', async () => {
  const unused = grants.filter(
    (grant) => !auditEvents.some((event) => grantMatches(grant, requestAttributes(event))),
  );
  assert.equal(unused.map(describeGrant), [], 'rules no audited request used');
});

test('removing any rule denies a used request', async () => {
  const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
  const authorization = admin.makeApiClient(AuthorizationV1Api);
  const groups = auditEvents[0]!.user.groups ?? [];

  async function isAllowed(request: RequestAttributes): Promise<boolean> {
    const review = await authorization.createSubjectAccessReview({
      body: {
        spec: {
          user: operatorUser,
          groups,
          resourceAttributes: {
            verb: request.verb,
            group: request.group,
            resource: request.resource,
            subresource: request.subresource,
            namespace: request.namespace,
            name: request.name,
          },
        },
      },
    });
    return review.status?.allowed === true;
  }

  async function replaceRules(roleKind: Grant['roleKind'], roleName: string, kept: Grant[]) {
    const rules = rulesOf(kept);
    if (roleKind === 'ClusterRole') {
      await rbac.patchClusterRole(
        { name: roleName, body: [{ op: 'replace', path: '/rules', value: rules }] },
        jsonPatch,
      );
    } else {
      await rbac.patchNamespacedRole(
        {
          namespace: releaseNamespace,
          name: roleName,
          body: [{ op: 'replace', path: '/rules', value: rules }],
        },
        jsonPatch,
      );
    }
  }

  for (const removed of grants) {
    const sameRole = grants.filter(
      (grant) => grant.roleKind === removed.roleKind && grant.roleName === removed.roleName,
    );
    const usedBy = new Map<string, RequestAttributes>();
    for (const event of auditEvents) {
      const request = requestAttributes(event);
      if (grantMatches(removed, request)) usedBy.set(describeRequest(request), request);
    }
    assert.ok(usedBy.size > 0, `${describeGrant(removed)} is unused`);

    await replaceRules(
      removed.roleKind,
      removed.roleName,
      sameRole.filter((grant) => grant !== removed),
    );
    // The authorizer reads roles from an informer, so the change takes effect shortly after.
    for (const [description, request] of usedBy) {
      await waitFor(
        `${description} to be denied without ${describeGrant(removed)}`,
        async () => ((await isAllowed(request)) ? undefined : true),
        10_000,
      );
    }
    await replaceRules(removed.roleKind, removed.roleName, sameRole);
    for (const [description, request] of usedBy) {
      await waitFor(
        `${description} to be allowed again`,
        async () => ((await isAllowed(request)) ? true : undefined),
        10_000,
      );
    }
  }
});

test.run();
