/**
 * `isc-sa-operator export`: writes a ServiceAccount manifest for each account on the tenant's
 * source, with `spec.adopt: true`, so that existing accounts can be brought under the operator.
 * The identity's user levels become spec.userLevel. Its personal access tokens are listed in a
 * comment only: ISC returns a PAT's secret only when it is created, so the operator cannot take
 * over an existing PAT, and minting one of the same name would fail.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Document } from 'yaml';
import { requiredAccountAttributes } from '../controller/tenant.ts';
import { describeError } from '../errors.ts';
import type { IscApi } from '../isc/api.ts';
import { IscApiError, isIscError } from '../isc/errors.ts';
import { eq } from '../isc/filters.ts';
import type { Account, Identity, PersonalAccessToken } from '../isc/types.ts';
import {
  type CommandIo,
  choice,
  exitCodes,
  processIo,
  reportUsageError,
  UsageError,
} from './command-io.ts';
import { printable } from './manifest-check.ts';
import { createProgress } from './progress.ts';
import {
  checkReachable,
  connectReadOnly,
  parseTenantCommandArgs,
  resolveTenant,
  type TenantTarget,
  TenantUnreachableError,
  tenantUsage,
} from './tenant-connection.ts';

export const exportUsage = `Usage: isc-sa-operator export [options]
       isc-sa-operator export csv [options]   (see export csv --help)

Reads every account on the tenant's service-account source, with its identity, user levels and
personal access tokens, and writes one ServiceAccount manifest per account with spec.adopt:
true, accountId, name, email, purpose, the other attributes of the account schema and
spec.userLevel. Levels the Tenant's policy does not allow (by default ORG_ADMIN) are left out
and stay in ISC. The identity's personal access tokens (name, scopes, expiry, last use; never a
secret) are listed in a comment, not in spec.tokens: the operator cannot take over an existing
token. Review the manifests, then commit and apply them; plan shows no change for them.

Options:
  --output FILE             write all manifests to FILE, separated by ---, instead of stdout
  --output-dir FOLDER       write one <metadata.name>.yaml file per manifest into FOLDER
  --overwrite               replace files that already exist
  --namespace NS            metadata.namespace of the manifests (default: default)
  --tenant-ref NAME         set spec.tenantRef.name
  --deletion-policy P       set spec.deletionPolicy to Delete or Orphan (default: unset, which
                            means Delete: deleting the resource deletes the adopted account)
  -h, --help                show this help

${tenantUsage}
Listing another identity's tokens needs sp:all-personal-access-tokens:read; without it the
manifests are written without token comments and a warning is printed.

Progress of long reads goes to stderr when stderr is a terminal.

Exit codes: 0 written, 1 a failed ISC call or a file that exists, 2 usage error.`;

const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const attributeNamePattern = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

interface ExportOptions {
  namespace: string;
  tenantRef: string | undefined;
  deletionPolicy: 'Delete' | 'Orphan' | undefined;
  /** User levels the Tenant's policy allows; others are left out of spec.userLevel. */
  allowedUserLevels: readonly string[];
}

/** One manifest to write, and the file name it gets in --output-dir. */
export interface ExportedManifest {
  name: string;
  text: string;
}

/** Runs the command and returns its exit code. */
export async function runExport(argv: string[], io: CommandIo = processIo): Promise<number> {
  if (argv[0] === 'csv') {
    const { runExportCsv } = await import('./export-csv.ts');
    return runExportCsv(argv.slice(1), io);
  }
  try {
    const values = parseTenantCommandArgs(argv, {
      output: { type: 'string' },
      'output-dir': { type: 'string' },
      overwrite: { type: 'boolean' },
      namespace: { type: 'string' },
      'tenant-ref': { type: 'string' },
      'deletion-policy': { type: 'string' },
    });
    if (values.help) {
      io.stdout(`${exportUsage}\n`);
      return exitCodes.ok;
    }
    if (values.output !== undefined && values['output-dir'] !== undefined)
      throw new UsageError('give either --output or --output-dir, not both');
    const namespace = values.namespace ?? 'default';
    if (!dns1123Label.test(namespace))
      throw new UsageError(`--namespace "${namespace}" is not a valid namespace name`);
    const tenant = await resolveTenant(values, io);
    const options: ExportOptions = {
      namespace,
      allowedUserLevels: tenant.allowedUserLevels,
      tenantRef: values['tenant-ref'],
      deletionPolicy:
        values['deletion-policy'] === undefined
          ? undefined
          : choice(
              'deletion-policy',
              values['deletion-policy'],
              ['Delete', 'Orphan'] as const,
              'Delete',
            ),
    };
    const api = connectReadOnly(tenant, io, 'export');
    await checkReachable(tenant);
    const manifests = await exportAccounts(api, tenant, options, io);

    const folder = values['output-dir'];
    const flag = values.overwrite ? 'w' : 'wx';
    const files =
      folder === undefined
        ? [{ path: values.output, text: manifests.map((manifest) => manifest.text).join('---\n') }]
        : manifests.map((manifest) => ({
            path: join(folder, `${manifest.name}.yaml`),
            text: manifest.text,
          }));
    if (folder !== undefined) await mkdir(folder, { recursive: true });
    for (const file of files) {
      if (file.path === undefined) {
        io.stdout(file.text);
        continue;
      }
      try {
        await writeFile(file.path, file.text, { flag });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        io.stderr(`export: ${file.path} already exists; pass --overwrite or choose another path\n`);
        return exitCodes.failed;
      }
    }
    const target = folder ?? values.output;
    if (target !== undefined)
      io.stderr(`export: wrote ${manifests.length} manifests to ${target}\n`);
    return exitCodes.ok;
  } catch (error) {
    if (error instanceof UsageError) return reportUsageError(io, 'export', error);
    if (
      isIscError(error) ||
      error instanceof SourceNotFoundError ||
      error instanceof TenantUnreachableError
    ) {
      io.stderr(`export: reading the tenant failed: ${describeError(error)}\n`);
      return exitCodes.failed;
    }
    throw error;
  }
}

class SourceNotFoundError extends Error {}

/**
 * Reads the source's accounts, their identities, user levels and tokens (GET requests only) and
 * builds manifests.
 */
export async function exportAccounts(
  api: IscApi,
  tenant: TenantTarget,
  options: ExportOptions,
  io: CommandIo,
): Promise<ExportedManifest[]> {
  const progress = createProgress(io.progress);
  const source = await api.findSourceByName(tenant.sourceName);
  if (!source)
    throw new SourceNotFoundError(
      `source "${tenant.sourceName}" does not exist on ${tenant.baseUrl}`,
    );
  const schema = await api.getAccountSchema(source.id);
  const schemaNames = new Set((schema?.attributes ?? []).map((attribute) => attribute.name));

  const accounts: Account[] = [];
  const pages = api.list<Account>(
    'accounts',
    '',
    { filters: eq('sourceId', source.id), sorters: 'id' },
    (read, total) => progress.update('reading accounts', read, total),
  );
  for await (const account of pages) accounts.push(account);
  progress.end();
  // ISC ids are random; the account ids give an order that stays the same between exports.
  accounts.sort((a, b) => a.nativeIdentity.localeCompare(b.nativeIdentity, 'en'));

  const usedNames = new Set<string>();
  const manifests: ExportedManifest[] = [];
  const tokenReader = { forbidden: false };
  for (const [position, account] of accounts.entries()) {
    progress.update('reading identities', position + 1, accounts.length);
    const access = await readAccess(api, account.identityId ?? undefined, tokenReader, io);
    const manifest = buildManifest(account, access, schemaNames, options, usedNames, source.name);
    for (const warning of manifest.warnings)
      io.stderr(`export: account ${printable(account.nativeIdentity)}: ${printable(warning)}\n`);
    manifests.push({ name: manifest.name, text: manifest.text });
  }
  progress.end();
  return manifests;
}

/** The identity of an account and its access in ISC, as far as the credential may read them. */
interface IdentityAccess {
  identity: Identity | undefined;
  capabilities: string[] | undefined;
  /** Undefined when the credential may not list another identity's tokens. */
  tokens: PersonalAccessToken[] | undefined;
}

/**
 * Reads the identity, its user levels and its tokens. After the first 403 on the token list,
 * tokens are not asked for again and one warning is printed.
 */
async function readAccess(
  api: IscApi,
  identityId: string | undefined,
  tokenReader: { forbidden: boolean },
  io: CommandIo,
): Promise<IdentityAccess> {
  if (identityId === undefined)
    return { identity: undefined, capabilities: undefined, tokens: undefined };
  const identity = await api.getIdentity(identityId);
  const capabilities = identity ? await api.getAuthUserCapabilities(identityId) : undefined;
  let tokens: PersonalAccessToken[] | undefined;
  if (identity && !tokenReader.forbidden) {
    try {
      tokens = await api.listPersonalAccessTokensOf(identityId);
    } catch (error) {
      if (!(error instanceof IscApiError && error.kind === 'forbidden')) throw error;
      tokenReader.forbidden = true;
      io.stderr(
        "export: the credential may not list other identities' personal access tokens (needs " +
          'sp:all-personal-access-tokens:read); the manifests list no tokens\n',
      );
    }
  }
  return { identity, capabilities, tokens };
}

function buildManifest(
  account: Account,
  access: IdentityAccess,
  schemaNames: ReadonlySet<string>,
  options: ExportOptions,
  usedNames: Set<string>,
  sourceName: string,
): ExportedManifest & { warnings: string[] } {
  const warnings: string[] = [];
  const identity = access.identity;
  const attributes = account.attributes ?? {};
  const text = (name: string) =>
    typeof attributes[name] === 'string' ? (attributes[name] as string) : undefined;
  const accountName = text('name') ?? account.name;
  const name = uniqueName(resourceName(accountName, account.nativeIdentity), usedNames);

  let email = text('e-mail') || undefined;
  if (!email && identity?.emailAddress) {
    email = identity.emailAddress;
    warnings.push(
      `has no e-mail; took ${email} from its identity, which the operator then writes to the account`,
    );
  }
  if (!email)
    warnings.push('has no e-mail and its identity none either; set spec.email before applying');
  const extra: Record<string, string> = {};
  for (const attribute of [...schemaNames].sort()) {
    if (requiredAccountAttributes.includes(attribute)) continue;
    const value = attributes[attribute];
    if (value === undefined || value === null || value === '') continue;
    if (typeof value !== 'string') {
      warnings.push(`attribute ${attribute} is not a string and was left out`);
      continue;
    }
    if (!attributeNamePattern.test(attribute)) {
      warnings.push(
        `attribute name ${attribute} is not allowed in spec.attributes and was left out`,
      );
      continue;
    }
    extra[attribute] = value;
  }

  const spec: Record<string, unknown> = {};
  if (options.tenantRef) spec.tenantRef = { name: options.tenantRef };
  spec.accountId = account.nativeIdentity;
  spec.name = accountName;
  spec.email = email ?? '';
  const purpose = text('purpose');
  if (purpose) spec.purpose = purpose;
  if (Object.keys(extra).length > 0) spec.attributes = extra;
  const capabilities = access.capabilities ?? [];
  const userLevel = capabilities.filter((level) => options.allowedUserLevels.includes(level));
  const notAllowed = capabilities.filter((level) => !options.allowedUserLevels.includes(level));
  if (userLevel.length > 0) spec.userLevel = userLevel;
  spec.adopt = true;
  // An existing identity was invited (or registered) long ago; adopting it must not mail it.
  spec.invite = false;
  if (options.deletionPolicy) spec.deletionPolicy = options.deletionPolicy;

  const document = new Document({
    apiVersion: 'isc.sailpoint/v1alpha1',
    kind: 'ServiceAccount',
    metadata: { name, namespace: options.namespace },
    spec,
  });
  const identityText = identity ? `identity ${identity.id} (${identity.name})` : 'no identity';
  const comment = [` Exported from source "${sourceName}": account ${account.id}, ${identityText}`];
  if (notAllowed.length > 0) {
    comment.push(
      ` User levels ${notAllowed.join(', ')} are set in ISC but not allowed by the Tenant's policy;`,
      ' they are left out of spec.userLevel and the operator leaves them in place.',
    );
  }
  if (access.tokens && access.tokens.length > 0) {
    comment.push(
      ' Personal access tokens of the identity in ISC (not managed by the operator; add a token',
      ' under a new name to spec.tokens to have one minted into a Secret):',
      ...access.tokens.map((token) => ` - ${describeToken(token)}`),
    );
  }
  document.commentBefore = comment.map(printable).join('\n');
  return { name, text: document.toString({ lineWidth: 0 }), warnings };
}

/**
 * Describes a token's metadata in one line: name, scopes, expiry and last use. The id, which is
 * the token's OAuth client id, stays out of Git.
 */
function describeToken(token: PersonalAccessToken): string {
  const scopes = token.scope && token.scope.length > 0 ? token.scope.join(' ') : 'sp:scopes:all';
  const expiry = token.expirationDate ? `expires ${token.expirationDate}` : 'never expires';
  const used = token.lastUsed ? `last used ${token.lastUsed}` : 'never used';
  return `${token.name}: scopes ${scopes}; ${expiry}; ${used}`;
}

/** Derives a DNS label (a-z, 0-9, '-') from the account name, else from its id. */
function resourceName(accountName: string, accountId: string): string {
  for (const candidate of [accountName, accountId, 'account']) {
    const name = candidate
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .slice(0, 240)
      .replace(/-{2,}/g, '-')
      .replace(/^-+|-+$/g, '');
    if (name !== '') return name;
  }
  return 'account';
}

function uniqueName(base: string, used: Set<string>): string {
  let name = base;
  for (let suffix = 2; used.has(name); suffix++) name = `${base}-${suffix}`;
  used.add(name);
  return name;
}
