/**
 * The tenant that `plan` and `export` read, from command-line flags or a Tenant manifest, and a
 * client that can only read it.
 */
import { connect } from 'node:net';
import { IscApi } from '../isc/api.ts';
import { baseUrlProblem } from '../isc/base-url.ts';
import { type IscApiVersion, IscClient, type IscRequest, type IscResponse } from '../isc/client.ts';
import { defaultAllowedUserLevels } from '../isc/user-levels.ts';
import type { TenantSpec } from '../kube/types.ts';
import { createLogger } from '../log.ts';
import { type CommandIo, choice, parseCommandArgs, UsageError } from './command-io.ts';
import { textLogDestination } from './log-lines.ts';
import { checkManifests, formatFinding } from './manifest-check.ts';

/** Address of a tenant, and the names of the source and identity profile of its service accounts. */
export interface TenantTarget {
  /** Tenant name that ServiceAccounts give in spec.tenantRef. */
  name: string;
  baseUrl: string;
  apiVersion: IscApiVersion;
  sourceName: string;
  identityProfileName: string;
  requestsPer10Seconds: number;
  /** User levels ServiceAccounts may request: the Tenant's spec.policy.allowedUserLevels. */
  allowedUserLevels: readonly string[];
}

/** Options shared by `plan` and `export` to name the tenant. */
export const tenantOptions = {
  'tenant-url': { type: 'string' },
  'tenant-file': { type: 'string' },
  'tenant-name': { type: 'string' },
  'api-version': { type: 'string' },
  'source-name': { type: 'string' },
  'identity-profile-name': { type: 'string' },
  'credentials-env': { type: 'boolean' },
} as const;

type CommandOptions = Parameters<typeof parseCommandArgs>[1];

/**
 * Parses the arguments of a command that reads a tenant and takes no positional argument, such
 * as both forms of `export`. It accepts the tenant options, -h/--help and `options`, and throws
 * UsageError for an unknown option, a missing value, or a positional argument without --help.
 */
export function parseTenantCommandArgs<T extends CommandOptions>(argv: string[], options: T) {
  const { values, positionals } = parseCommandArgs(argv, {
    ...tenantOptions,
    ...options,
    help: { type: 'boolean', short: 'h' },
  } as const);
  const help = (values as { help?: boolean }).help;
  if (!help && positionals.length > 0)
    throw new UsageError(`unexpected argument "${positionals[0]}"`);
  return values;
}

export const tenantUsage = `Tenant (one of):
  --tenant-url URL          tenant API root, e.g. https://acme.api.identitynow.com
      --tenant-name NAME    name ServiceAccounts use in spec.tenantRef (default: default)
      --api-version V       v2025 (default) or per-service
      --source-name NAME    source of the service accounts (default: Service Accounts)
      --identity-profile-name NAME   (default: Service Accounts)
  --tenant-file FILE        a Tenant manifest; its baseUrl, apiVersion, source, identity
                            profile, rate limit and allowed user levels are used
Credentials: the client id and secret of a personal access token in the environment variables
ISC_CLIENT_ID and ISC_CLIENT_SECRET (--credentials-env states this; it is the only source).
Only GET requests are sent, besides the token request.`;

interface TenantFlags {
  'tenant-url'?: string | undefined;
  'tenant-file'?: string | undefined;
  'tenant-name'?: string | undefined;
  'api-version'?: string | undefined;
  'source-name'?: string | undefined;
  'identity-profile-name'?: string | undefined;
}

/** Resolves the tenant from the flags; throws UsageError for missing or conflicting ones. */
export async function resolveTenant(flags: TenantFlags, io: CommandIo): Promise<TenantTarget> {
  const url = flags['tenant-url'];
  const file = flags['tenant-file'];
  if ((url === undefined) === (file === undefined)) {
    throw new UsageError('give either --tenant-url or --tenant-file');
  }
  if (url !== undefined) {
    return {
      name: flags['tenant-name'] ?? 'default',
      baseUrl: checkedUrl(url),
      apiVersion: choice('api-version', flags['api-version'], ['v2025', 'per-service'], 'v2025'),
      sourceName: flags['source-name'] ?? 'Service Accounts',
      identityProfileName: flags['identity-profile-name'] ?? 'Service Accounts',
      requestsPer10Seconds: 100,
      allowedUserLevels: defaultAllowedUserLevels,
    };
  }

  const report = await checkManifests([file!], undefined, io.stdin);
  const invalid = report.findings.map(formatFinding);
  if (invalid.length > 0) throw new UsageError(`--tenant-file is invalid:\n${invalid.join('\n')}`);
  const tenants = report.resources.filter((resource) => resource.kind === 'Tenant');
  if (tenants.length !== 1) {
    throw new UsageError(`--tenant-file must contain one Tenant, found ${tenants.length}`);
  }
  const tenant = tenants[0]!.object as { metadata: { name: string }; spec: TenantSpec };
  return {
    name: tenant.metadata.name,
    baseUrl: checkedUrl(tenant.spec.baseUrl),
    apiVersion: tenant.spec.apiVersion ?? 'v2025',
    sourceName: tenant.spec.source?.name ?? 'Service Accounts',
    identityProfileName: tenant.spec.identityProfile?.name ?? 'Service Accounts',
    requestsPer10Seconds: tenant.spec.rateLimit?.requestsPer10Seconds ?? 100,
    allowedUserLevels: tenant.spec.policy?.allowedUserLevels ?? defaultAllowedUserLevels,
  };
}

/** Accepts https, and plain http only on loopback, so a secret never crosses a network unencrypted. */
function checkedUrl(text: string): string {
  const problem = baseUrlProblem(text);
  if (problem) throw new UsageError(`tenant URL "${text}" ${problem}`);
  // The client adds the version to every path, so a URL ending in one would ask for
  // /v2025/v2025/sources and get 404.
  const url = new URL(text);
  const lastSegment = url.pathname.split('/').filter(Boolean).at(-1);
  if (lastSegment !== undefined && apiVersionSegment.test(lastSegment)) {
    throw new UsageError(
      `tenant URL "${text}" ends with the API version "/${lastSegment}"; drop it and give the ` +
        `tenant API root, e.g. ${url.origin} (--api-version selects the API paths)`,
    );
  }
  return text;
}

/** Path segments that name an ISC API version: v2025, v3, beta, or a service version like v1. */
const apiVersionSegment = /^(v\d+|beta)$/i;

/** The tenant's host refused or did not accept a TCP connection. */
export class TenantUnreachableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TenantUnreachableError';
  }
}

/**
 * Opens one TCP connection to the tenant's host and closes it, so that a wrong host or port
 * fails at once. Without it the ISC client first retries the token request, and each call
 * that needs it, with backoff: a `plan` against a closed port took many seconds to fail.
 */
export async function checkReachable(tenant: TenantTarget, timeoutMs = 10_000): Promise<void> {
  const url = new URL(tenant.baseUrl);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
  await new Promise<void>((resolve, reject) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    const fail = (reason: string) => {
      socket.destroy();
      reject(
        new TenantUnreachableError(
          `cannot connect to the tenant at ${url.origin}: ${reason}; check the tenant URL`,
        ),
      );
    };
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('timeout', () => fail(`no answer within ${timeoutMs / 1000} s`));
    socket.once('error', (error) => fail(error.message));
  });
}

/**
 * A client that sends GET requests only. The token request does not pass through `request`,
 * so it still works; any other method throws before a byte is sent.
 */
export class ReadOnlyIscClient extends IscClient {
  override async request<T>(
    method: string,
    path: string,
    request?: IscRequest,
  ): Promise<IscResponse<T>> {
    if (method !== 'GET') {
      throw new Error(`read-only client rejected ${method} ${path}; plan and export never write`);
    }
    return super.request<T>(method, path, request);
  }
}

/**
 * Connects to the tenant read-only with the credentials in ISC_CLIENT_ID and ISC_CLIENT_SECRET.
 * The client's log lines (retries, and each call with LOG_LEVEL=debug) go to stderr as text
 * prefixed with `command`.
 */
export function connectReadOnly(tenant: TenantTarget, io: CommandIo, command: string): IscApi {
  const clientId = io.env.ISC_CLIENT_ID;
  const clientSecret = io.env.ISC_CLIENT_SECRET;
  if (!clientId || !clientSecret) {
    throw new UsageError(
      'set ISC_CLIENT_ID and ISC_CLIENT_SECRET to a personal access token of the tenant',
    );
  }
  // Logs go to stderr, so that stdout holds only the plan or the exported YAML.
  const destination = textLogDestination(command, (text) => io.stderr(text));
  const logger = createLogger({ level: io.env.LOG_LEVEL ?? 'warn' }, destination);
  return new IscApi(
    new ReadOnlyIscClient({
      baseUrl: tenant.baseUrl,
      clientId,
      clientSecret,
      apiVersion: tenant.apiVersion,
      rateLimit: tenant.requestsPer10Seconds,
      rateLimitWindowMs: 10_000,
      logger,
    }),
  );
}
