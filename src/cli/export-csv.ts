/**
 * `isc-sa-operator export csv`: prints the account file that matches the cluster, the same
 * file a csv-mode tenant's next upload would send: every account the cluster's ServiceAccounts
 * own, as their specs describe them, plus every other account of the source unchanged.
 */
import { accountFileColumns, planAccountFile } from '../controller/csv-plan.ts';
import { describeError } from '../errors.ts';
import { renderAccountsCsv } from '../isc/accounts-csv.ts';
import type { IscApi } from '../isc/api.ts';
import { eq } from '../isc/filters.ts';
import type { Account } from '../isc/types.ts';
import { loadKubeConfig, ServiceAccountResources } from '../kube/client.ts';
import type { ServiceAccount } from '../kube/types.ts';
import {
  type CommandIo,
  exitCodes,
  processIo,
  reportUsageError,
  UsageError,
} from './command-io.ts';
import {
  checkReachable,
  connectReadOnly,
  parseTenantCommandArgs,
  resolveTenant,
  type TenantTarget,
  tenantUsage,
} from './tenant-connection.ts';

export const exportCsvUsage = `Usage: isc-sa-operator export csv [options]

Prints the account file (CSV) that matches the cluster: a row for each account the cluster's
ServiceAccounts of this tenant own, as their specs describe it, and every other account of the
source as ISC has it, in the column order of the source's account schema. It is the file a
Tenant with syncMode csv uploads next. ServiceAccounts belong to the tenant named in
spec.tenantRef, else in status.tenant, else to "default".

Options:
  --kubeconfig FILE         cluster to read ServiceAccounts from (default: KUBECONFIG,
                            ~/.kube/config, or in-cluster)
  --no-cluster              read no ServiceAccounts: print the source's accounts as they are
  -h, --help                show this help

${tenantUsage}

Exit codes: 0 printed, 1 a failed ISC or Kubernetes call or a schema the file cannot match,
2 usage error.`;

/** Runs `export csv` (argv without the leading "csv") and returns its exit code. */
export async function runExportCsv(argv: string[], io: CommandIo = processIo): Promise<number> {
  try {
    const values = parseTenantCommandArgs(argv, {
      kubeconfig: { type: 'string' },
      'no-cluster': { type: 'boolean' },
    });
    if (values.help) {
      io.stdout(`${exportCsvUsage}\n`);
      return exitCodes.ok;
    }
    const tenant = await resolveTenant(values, io);
    const api = connectReadOnly(tenant, io, 'export csv');
    await checkReachable(tenant);
    const resources = values['no-cluster']
      ? []
      : await listServiceAccounts(values.kubeconfig ?? io.env.KUBECONFIG);
    io.stdout(await exportAccountFile(api, tenant, resources));
    return exitCodes.ok;
  } catch (error) {
    if (error instanceof UsageError) return reportUsageError(io, 'export csv', error);
    io.stderr(`export csv: ${describeError(error)}\n`);
    return exitCodes.failed;
  }
}

async function listServiceAccounts(kubeconfig: string | undefined): Promise<ServiceAccount[]> {
  const resources = new ServiceAccountResources(loadKubeConfig(kubeconfig));
  return (await resources.list()).items;
}

/**
 * Renders the account file for `resources` (the cluster's ServiceAccounts, any tenant) and the
 * source's current accounts. Raises an Error when the source or a usable schema is missing.
 */
export async function exportAccountFile(
  api: IscApi,
  tenant: TenantTarget,
  resources: readonly ServiceAccount[],
): Promise<string> {
  const source = await api.findSourceByName(tenant.sourceName);
  if (!source) throw new Error(`source "${tenant.sourceName}" does not exist on ${tenant.baseUrl}`);
  const schema = await api.getAccountSchema(source.id);
  if (!schema) throw new Error(`source "${source.name}" has no account schema`);
  const columns = accountFileColumns(schema);
  if (typeof columns === 'string') throw new Error(columns);

  const accounts: Account[] = [];
  for await (const account of api.list<Account>('accounts', '', {
    filters: eq('sourceId', source.id),
    sorters: 'id',
  })) {
    accounts.push(account);
  }
  const ofTenant = resources.filter(
    (resource) =>
      (resource.spec.tenantRef?.name ?? resource.status?.tenant ?? 'default') === tenant.name,
  );
  const plan = planAccountFile({ columns, resources: ofTenant, accounts, claimed: new Set() });
  return renderAccountsCsv(columns, plan.rows);
}
