/**
 * `isc-sa-operator export`: writes a ServiceAccount manifest for each account on the tenant's
 * source, with `spec.adopt: true`, so that existing accounts can be brought under the operator.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Document } from 'yaml';
import { requiredAccountAttributes } from '../controller/tenant.ts';
import { describeError } from '../errors.ts';
import type { IscApi } from '../isc/api.ts';
import { isIscError } from '../isc/errors.ts';
import { eq } from '../isc/filters.ts';
import type { Account, Identity } from '../isc/types.ts';
import {
  type CommandIo,
  choice,
  exitCodes,
  parseCommandArgs,
  processIo,
  UsageError,
} from './command-io.ts';
import { printable } from './manifest-check.ts';
import {
  connectReadOnly,
  resolveTenant,
  type TenantTarget,
  tenantOptions,
  tenantUsage,
} from './tenant-connection.ts';

export const exportUsage = `Usage: isc-sa-operator export [options]

Reads every account on the tenant's service-account source, with its identity, and writes one
ServiceAccount manifest per account with spec.adopt: true, accountId, name, email, purpose and
the other attributes of the account schema. Review them, then commit and apply them.

Options:
  --out FOLDER              write <metadata.name>.yaml files there instead of stdout
  --overwrite               replace files that already exist in --out
  --namespace NS            metadata.namespace of the manifests (default: default)
  --tenant-ref NAME         set spec.tenantRef.name
  --deletion-policy P       set spec.deletionPolicy to Delete or Orphan (default: unset, which
                            means Delete: deleting the resource deletes the adopted account)
  -h, --help                show this help

${tenantUsage}

Exit codes: 0 written, 1 a failed ISC call or a file that exists, 2 usage error.`;

const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const attributeNamePattern = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

interface ExportOptions {
  namespace: string;
  tenantRef: string | undefined;
  deletionPolicy: 'Delete' | 'Orphan' | undefined;
}

/** One manifest to write, and the file name it gets in --out. */
export interface ExportedManifest {
  name: string;
  text: string;
}

/** Runs the command and returns its exit code. */
export async function runExport(argv: string[], io: CommandIo = processIo): Promise<number> {
  try {
    const { values, positionals } = parseCommandArgs(argv, {
      ...tenantOptions,
      out: { type: 'string' },
      overwrite: { type: 'boolean' },
      namespace: { type: 'string' },
      'tenant-ref': { type: 'string' },
      'deletion-policy': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help) {
      io.stdout(`${exportUsage}\n`);
      return exitCodes.ok;
    }
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    const namespace = values.namespace ?? 'default';
    if (!dns1123Label.test(namespace))
      throw new UsageError(`--namespace "${namespace}" is not a valid namespace name`);
    const options: ExportOptions = {
      namespace,
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
    const tenant = await resolveTenant(values, io);
    const manifests = await exportAccounts(connectReadOnly(tenant, io), tenant, options, io);

    if (values.out === undefined) {
      io.stdout(manifests.map((manifest) => manifest.text).join('---\n'));
      return exitCodes.ok;
    }
    await mkdir(values.out, { recursive: true });
    for (const manifest of manifests) {
      const path = join(values.out, `${manifest.name}.yaml`);
      try {
        await writeFile(path, manifest.text, { flag: values.overwrite ? 'w' : 'wx' });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        io.stderr(
          `export: ${path} already exists; pass --overwrite or choose another --out folder\n`,
        );
        return exitCodes.failed;
      }
    }
    io.stderr(`export: wrote ${manifests.length} manifests to ${values.out}\n`);
    return exitCodes.ok;
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`export: ${error.message}\n\n${exportUsage}\n`);
      return exitCodes.usage;
    }
    if (isIscError(error) || error instanceof SourceNotFoundError) {
      io.stderr(`export: reading the tenant failed: ${describeError(error)}\n`);
      return exitCodes.failed;
    }
    throw error;
  }
}

class SourceNotFoundError extends Error {}

/** Reads the source's accounts and their identities (GET requests only) and builds manifests. */
export async function exportAccounts(
  api: IscApi,
  tenant: TenantTarget,
  options: ExportOptions,
  io: CommandIo,
): Promise<ExportedManifest[]> {
  const source = await api.findSourceByName(tenant.sourceName);
  if (!source)
    throw new SourceNotFoundError(
      `source "${tenant.sourceName}" does not exist on ${tenant.baseUrl}`,
    );
  const schema = await api.getAccountSchema(source.id);
  const schemaNames = new Set((schema?.attributes ?? []).map((attribute) => attribute.name));

  const accounts: Account[] = [];
  for await (const account of api.list<Account>('accounts', '', {
    filters: eq('sourceId', source.id),
    sorters: 'id',
  })) {
    accounts.push(account);
  }

  const usedNames = new Set<string>();
  const manifests: ExportedManifest[] = [];
  for (const account of accounts) {
    const identity = account.identityId ? await api.getIdentity(account.identityId) : undefined;
    const manifest = buildManifest(account, identity, schemaNames, options, usedNames, source.name);
    for (const warning of manifest.warnings)
      io.stderr(`export: account ${printable(account.nativeIdentity)}: ${printable(warning)}\n`);
    manifests.push({ name: manifest.name, text: manifest.text });
  }
  return manifests;
}

function buildManifest(
  account: Account,
  identity: Identity | undefined,
  schemaNames: ReadonlySet<string>,
  options: ExportOptions,
  usedNames: Set<string>,
  sourceName: string,
): ExportedManifest & { warnings: string[] } {
  const warnings: string[] = [];
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
  document.commentBefore = printable(
    ` Exported from source "${sourceName}": account ${account.id}, ${identityText}`,
  );
  return { name, text: document.toString({ lineWidth: 0 }), warnings };
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
