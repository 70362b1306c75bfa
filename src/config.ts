import { existsSync, readFileSync } from 'node:fs';
import { baseUrlProblem } from './isc/base-url.ts';
import type { IscApiVersion } from './isc/client.ts';

const serviceAccountNamespaceFile = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** Operator settings, read from the environment so that a Deployment sets them declaratively. */
export interface OperatorConfig {
  kubeconfigPath: string | undefined;
  /**
   * A tenant configured by environment variables, served as the Tenant named `name`; undefined
   * when ISC_BASE_URL is not set and only Tenant resources are used.
   */
  isc:
    | {
        name: string;
        baseUrl: string;
        apiVersion: IscApiVersion;
        /** Set directly, or read from `credentialsSecret` at start. */
        clientId: string | undefined;
        clientSecret: string | undefined;
        credentialsSecret: { namespace: string; name: string } | undefined;
        rateLimitPer10s: number;
      }
    | undefined;
  sourceName: string;
  identityProfileName: string;
  ownerIdentityId: string | undefined;
  /** Namespaces whose ServiceAccounts are watched; undefined watches all. */
  watchNamespaces: string[] | undefined;
  workers: number;
  resyncSeconds: number;
  identityProcessingIntervalSeconds: number;
  /** Wait for an account create without a clear response before it is resent. */
  accountCreateTimeoutSeconds: number;
  logLevel: string;
  /** Lease for leader election; undefined runs without it (one replica only). */
  leaderElection: { namespace: string; leaseName: string } | undefined;
  /** Address of /metrics, /healthz and /readyz, or undefined to turn them off. */
  metricsAddress: { host: string; port: number } | undefined;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/**
 * Reads the configuration from environment variables (documented in the README) and rejects
 * missing or malformed values with a message naming the variable.
 */
export function readConfig(env: NodeJS.ProcessEnv = process.env): OperatorConfig {
  const problems: string[] = [];

  const baseUrl = env.ISC_BASE_URL?.trim();
  const envTenant = Boolean(baseUrl || env.ISC_CREDENTIALS_SECRET || env.ISC_CLIENT_ID);
  if (envTenant && !baseUrl) {
    problems.push('ISC_BASE_URL is missing (e.g. https://acme.api.identitynow.com)');
  } else if (baseUrl) {
    const problem = baseUrlProblem(baseUrl);
    if (problem) problems.push(`ISC_BASE_URL "${baseUrl}" ${problem}`);
  }

  const apiVersion = env.ISC_API_VERSION ?? 'v2025';
  if (apiVersion !== 'v2025' && apiVersion !== 'per-service') {
    problems.push(`ISC_API_VERSION "${apiVersion}" is invalid; use v2025 or per-service`);
  }

  let credentialsSecret: { namespace: string; name: string } | undefined;
  const secretRef = env.ISC_CREDENTIALS_SECRET?.trim();
  if (secretRef) {
    const [namespace, name, extra] = secretRef.split('/');
    if (!namespace || !name || extra !== undefined) {
      problems.push(`ISC_CREDENTIALS_SECRET "${secretRef}" must be namespace/name`);
    } else {
      credentialsSecret = { namespace, name };
    }
  }
  const clientId = env.ISC_CLIENT_ID || undefined;
  const clientSecret = env.ISC_CLIENT_SECRET || undefined;
  if (envTenant && !credentialsSecret && (!clientId || !clientSecret)) {
    problems.push(
      'ISC credentials are missing: set ISC_CREDENTIALS_SECRET=namespace/name (a Secret with ' +
        'keys clientId and clientSecret) or ISC_CLIENT_ID and ISC_CLIENT_SECRET',
    );
  }

  const rateLimitPer10s = positiveInteger(env, 'ISC_RATE_LIMIT_PER_10S', 100, problems);
  const workers = positiveInteger(env, 'OPERATOR_WORKERS', 4, problems);
  const resyncSeconds = positiveInteger(env, 'OPERATOR_RESYNC_SECONDS', 600, problems);
  const accountCreateTimeoutSeconds = positiveInteger(
    env,
    'OPERATOR_ACCOUNT_CREATE_TIMEOUT_SECONDS',
    600,
    problems,
  );
  const identityProcessingIntervalSeconds = positiveInteger(
    env,
    'ISC_IDENTITY_PROCESSING_INTERVAL_SECONDS',
    30,
    problems,
  );

  const logLevel = env.LOG_LEVEL || 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    problems.push(
      `LOG_LEVEL "${logLevel}" is invalid; use fatal, error, warn, info, debug, trace or silent`,
    );
  }
  const kubeconfigPath = env.KUBECONFIG || undefined;
  if (kubeconfigPath && !kubeconfigPath.includes(':') && !existsSync(kubeconfigPath)) {
    problems.push(`KUBECONFIG "${kubeconfigPath}" does not exist`);
  }
  const leaderElection = readLeaderElection(env, problems);
  const watchNamespaces = (env.OPERATOR_WATCH_NAMESPACES ?? '')
    .split(',')
    .map((namespace) => namespace.trim())
    .filter((namespace) => namespace !== '');
  const invalidNamespaces = watchNamespaces.filter(
    (namespace) => !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(namespace),
  );
  if (invalidNamespaces.length > 0) {
    problems.push(
      `OPERATOR_WATCH_NAMESPACES names invalid namespaces: ${invalidNamespaces.join(', ')}`,
    );
  }
  const metricsAddress = parseAddress(env.OPERATOR_METRICS_ADDRESS ?? '127.0.0.1:8080', problems);

  if (problems.length > 0) {
    throw new ConfigError(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
  return {
    kubeconfigPath,
    isc: envTenant
      ? {
          name: env.ISC_TENANT_NAME || 'default',
          baseUrl: baseUrl!,
          apiVersion: apiVersion as IscApiVersion,
          clientId,
          clientSecret,
          credentialsSecret,
          rateLimitPer10s,
        }
      : undefined,
    sourceName: env.ISC_SOURCE_NAME || 'Service Accounts',
    identityProfileName: env.ISC_IDENTITY_PROFILE_NAME || 'Service Accounts',
    ownerIdentityId: env.ISC_OWNER_IDENTITY_ID || undefined,
    watchNamespaces: watchNamespaces.length > 0 ? watchNamespaces : undefined,
    workers,
    resyncSeconds,
    identityProcessingIntervalSeconds,
    accountCreateTimeoutSeconds,
    logLevel,
    leaderElection,
    metricsAddress,
  };
}

function positiveInteger(
  env: NodeJS.ProcessEnv,
  name: string,
  fallback: number,
  problems: string[],
): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) {
    problems.push(`${name} "${raw}" must be a positive integer`);
    return fallback;
  }
  return value;
}

/** Parses `host:port` (IPv6 in brackets); `off` disables the listener. */
function parseAddress(raw: string, problems: string[]): { host: string; port: number } | undefined {
  if (raw === 'off') return undefined;
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(raw);
  const port = Number(match?.[3]);
  if (!match || !Number.isInteger(port) || port > 65535) {
    problems.push(
      `OPERATOR_METRICS_ADDRESS "${raw}" must be host:port (e.g. 0.0.0.0:8080 in a pod) or off`,
    );
    return undefined;
  }
  return { host: (match[1] ?? match[2])!, port };
}

/**
 * Leader election is on by default inside a pod (where the namespace is known) and off outside
 * one; OPERATOR_LEADER_ELECTION=true|false overrides.
 */
function readLeaderElection(
  env: NodeJS.ProcessEnv,
  problems: string[],
): OperatorConfig['leaderElection'] {
  const podNamespace =
    env.POD_NAMESPACE ||
    (existsSync(serviceAccountNamespaceFile)
      ? readFileSync(serviceAccountNamespaceFile, 'utf8').trim()
      : undefined);
  const namespace = env.OPERATOR_LEADER_ELECTION_NAMESPACE || podNamespace;
  const setting = env.OPERATOR_LEADER_ELECTION;
  if (setting !== undefined && setting !== '' && setting !== 'true' && setting !== 'false') {
    problems.push(`OPERATOR_LEADER_ELECTION "${setting}" must be true or false`);
    return undefined;
  }
  const enabled = setting ? setting === 'true' : namespace !== undefined;
  if (!enabled) return undefined;
  if (!namespace) {
    problems.push(
      'OPERATOR_LEADER_ELECTION is true but no namespace is known for the lease; set ' +
        'OPERATOR_LEADER_ELECTION_NAMESPACE or POD_NAMESPACE',
    );
    return undefined;
  }
  return { namespace, leaseName: env.OPERATOR_LEADER_ELECTION_LEASE || 'isc-sa-operator' };
}
