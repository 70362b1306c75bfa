/**
 * Scans what an operator leaves for people to read (its log, Kubernetes Events, the status of
 * every ServiceAccount and Tenant) for every secret the ISC emulator ever issued: the secret of
 * each PAT, deleted ones included, and each access token.
 */
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import * as assert from 'uvu/assert';
import { group, serviceAccountPlural, tenantPlural, version } from '../../src/kube/types.ts';
import type { ReliabilityEnv } from './reliability-env.ts';

/** A whole PAT secret as the emulator makes them, or a whole JWT. */
const tokenPattern = /^(?:[0-9a-f]{64}|[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/;
/** Substrings of a text that may be such a secret. */
const candidatePattern = /[0-9a-f]{64}|[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+/g;

export interface IssuedSecrets {
  clientSecrets: string[];
  accessTokens: string[];
}

/** Reads the emulator's record of issued secrets from its admin API. */
export async function issuedSecrets(emulatorUrl: string): Promise<IssuedSecrets> {
  const response = await fetch(`${emulatorUrl}/__admin/issued-secrets`);
  if (!response.ok) throw new Error(`GET /__admin/issued-secrets failed: ${response.status}`);
  return (await response.json()) as IssuedSecrets;
}

export interface SecretScan {
  /** Where each secret was found, e.g. "operator log: access token eyJhbGciOi...". */
  findings: string[];
  /** Sizes of what was scanned, so that a test can tell an empty scan from a clean one. */
  scanned: { secrets: number; logBytes: number; events: number; resources: number };
}

/**
 * Looks for every issued secret in the operator logs, in all Events and in the status of all
 * ServiceAccounts and Tenants of the cluster. A finding names the place and the secret's first
 * characters only.
 */
export async function scanForIssuedSecrets(options: {
  emulatorUrl: string;
  kubeConfig: KubeConfig;
  operatorLogs: string[];
}): Promise<SecretScan> {
  const issued = await issuedSecrets(options.emulatorUrl);
  const core = options.kubeConfig.makeApiClient(CoreV1Api);
  const customObjects = options.kubeConfig.makeApiClient(CustomObjectsApi);
  const events = (await core.listEventForAllNamespaces()).items;
  const serviceAccounts = (
    (await customObjects.listClusterCustomObject({ group, version, plural: serviceAccountPlural }))
      .items as Array<{ metadata: { namespace: string; name: string }; status?: unknown }>
  ).map((item) => ({
    place: `ServiceAccount ${item.metadata.namespace}/${item.metadata.name}`,
    item,
  }));
  const tenants = (
    (await customObjects.listClusterCustomObject({ group, version, plural: tenantPlural }))
      .items as Array<{ metadata: { name: string }; status?: unknown }>
  ).map((item) => ({ place: `Tenant ${item.metadata.name}`, item }));

  const texts: Array<{ place: string; text: string }> = [
    ...options.operatorLogs.map((text, index) => ({ place: `operator log ${index + 1}`, text })),
    { place: 'Events', text: JSON.stringify(events) },
    ...[...serviceAccounts, ...tenants].map(({ place, item }) => ({
      place,
      text: JSON.stringify(item),
    })),
  ];
  // Thousands of tokens against megabytes of log: the PAT secrets (64 hex digits) and access
  // tokens (JWTs) the emulator issues are looked up by pattern, any other secret by substring.
  const secrets = [
    ...issued.clientSecrets.map((value) => ({ kind: 'client secret', value })),
    ...issued.accessTokens.map((value) => ({ kind: 'access token', value })),
  ];
  const patterned = new Map<string, string>();
  const others: Array<{ kind: string; value: string }> = [];
  for (const secret of secrets) {
    if (tokenPattern.test(secret.value)) patterned.set(secret.value, secret.kind);
    else others.push(secret);
  }
  const findings: string[] = [];
  const found = (place: string, kind: string, value: string) =>
    findings.push(`${place}: ${kind} ${value.slice(0, 6)}...`);
  for (const { place, text } of texts) {
    for (const match of text.matchAll(candidatePattern)) {
      const kind = patterned.get(match[0]);
      if (kind) found(place, kind, match[0]);
    }
    for (const { kind, value } of others) {
      if (value.length >= 8 && text.includes(value)) found(place, kind, value);
    }
    if (/bearer\s+[A-Za-z0-9]/i.test(text)) findings.push(`${place}: bearer credential`);
  }
  return {
    findings,
    scanned: {
      secrets: secrets.length,
      logBytes: options.operatorLogs.reduce((sum, log) => sum + log.length, 0),
      events: events.length,
      resources: serviceAccounts.length + tenants.length,
    },
  };
}

/**
 * Asserts that no secret the emulator issued shows up in the operators' logs, Events or status,
 * and that no operator logged its own client secret. Prints the size of the scan.
 */
export async function assertNoIssuedSecretLeaked(
  env: Pick<ReliabilityEnv, 'emulator' | 'kubeConfig' | 'operators' | 'operatorClient'>,
): Promise<void> {
  const operatorLogs = env.operators.map((process) => process.output());
  const scan = await scanForIssuedSecrets({
    emulatorUrl: env.emulator.url,
    kubeConfig: env.kubeConfig,
    operatorLogs,
  });
  assert.ok(scan.scanned.secrets > 0, 'the emulator issued no secret to look for');
  assert.ok(scan.scanned.resources > 0, 'no resource was scanned');
  assert.equal(scan.findings, []);
  assert.not.ok(
    operatorLogs.some((log) => log.includes(env.operatorClient.clientSecret)),
    'the operator logged its client secret',
  );
  console.log(`secret scan: ${JSON.stringify(scan.scanned)}, ${scan.findings.length} found`);
}
