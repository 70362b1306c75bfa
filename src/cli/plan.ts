/**
 * `isc-sa-operator plan`: shows what applying ServiceAccount manifests would change in an ISC
 * tenant, from read-only calls, for review in a pull request.
 */
import { describeError } from '../errors.ts';
import { isIscError } from '../isc/errors.ts';
import {
  type CommandIo,
  choice,
  exitCodes,
  parseCommandArgs,
  processIo,
  reportUsageError,
  UsageError,
  writeResult,
} from './command-io.ts';
import { checkManifests, formatFinding } from './manifest-check.ts';
import { computePlan, hasChanges } from './plan-model.ts';
import { renderJson, renderMarkdown, renderTable } from './plan-output.ts';
import { createProgress } from './progress.ts';
import {
  checkReachable,
  connectReadOnly,
  resolveTenant,
  TenantUnreachableError,
  tenantOptions,
  tenantUsage,
} from './tenant-connection.ts';

export const planUsage = `Usage: isc-sa-operator plan [options] <file|folder|->...

Validates the ServiceAccounts in the files (as validate does), reads the tenant and prints what
the operator would change: accounts to create, update (per attribute), adopt, delete or orphan;
the source, account schema and identity profile; user levels to add or withdraw; personal
access tokens to mint, rotate or revoke; and accounts on the source that no file claims.

What the operator created is recorded in each resource's status in the cluster, which plan does
not read. So an existing account is shown as "managed only if owned", a deletion happens only
for an owned account, and only levels the operator added are withdrawn. Removals (resources,
user levels, tokens) are shown only with --base, which names the files before the change.

Options:
  --base PATH       files or folder of the base revision, e.g. the target branch of a pull
                    request (repeatable); resources, user levels and tokens missing from the
                    files given as arguments are planned as removed
  --policy FILE     apply the rules of a ServiceAccountPolicy file
  --format FORMAT   table (default), markdown (for a pull-request comment) or json
  --output FILE     write the plan to FILE instead of stdout
  -h, --help        show this help

${tenantUsage}

Progress of long reads goes to stderr when stderr is a terminal.

Exit codes: 0 no change, 3 changes, 1 invalid documents, policy violations, problems that
would stall the operator, or a failed ISC call, 2 usage error.`;

/** Runs the command and returns its exit code. */
export async function runPlan(argv: string[], io: CommandIo = processIo): Promise<number> {
  try {
    const { values, positionals } = parseCommandArgs(argv, {
      ...tenantOptions,
      base: { type: 'string', multiple: true },
      policy: { type: 'string' },
      format: { type: 'string' },
      output: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help) {
      io.stdout(`${planUsage}\n`);
      return exitCodes.ok;
    }
    const format = choice('format', values.format, ['table', 'markdown', 'json'], 'table');
    const basePaths = values.base ?? [];
    if (basePaths.includes('-')) throw new UsageError('--base cannot read stdin');
    const tenant = await resolveTenant(values, io);
    // The plan puts ServiceAccounts without spec.tenantRef in this tenant, so their account ids
    // and names must be unique together with those that name it.
    const report = await checkManifests(positionals, values.policy, io.stdin, tenant.name);
    // The base revision was reviewed before; its own problems do not block this plan.
    const base =
      basePaths.length === 0
        ? undefined
        : (await checkManifests(basePaths, undefined, io.stdin, tenant.name)).resources.filter(
            (resource) => resource.valid,
          );
    const api = connectReadOnly(tenant, io, 'plan');

    // The API server would reject invalid documents, so the operator would never see them.
    const invalid = report.findings.filter((finding) => finding.source !== 'policy');
    if (invalid.length > 0) {
      for (const finding of invalid) io.stderr(`${formatFinding(finding)}\n`);
      io.stderr(`plan: ${invalid.length} invalid documents; fix them first (see validate)\n`);
      return exitCodes.failed;
    }
    const violations = report.findings.filter((finding) => finding.source === 'policy');
    await checkReachable(tenant);

    const plan = await computePlan(api, tenant, report.resources, {
      base,
      now: io.now?.() ?? new Date(),
      progress: createProgress(io.progress),
    });
    const render = { table: renderTable, markdown: renderMarkdown, json: renderJson }[format];
    await writeResult(io, values.output, render(plan, violations));
    if (violations.length > 0 || plan.problems.length > 0) return exitCodes.failed;
    return hasChanges(plan) ? exitCodes.changes : exitCodes.ok;
  } catch (error) {
    if (error instanceof UsageError) return reportUsageError(io, 'plan', error);
    if (isIscError(error) || error instanceof TenantUnreachableError) {
      io.stderr(`plan: reading the tenant failed: ${describeError(error)}\n`);
      return exitCodes.failed;
    }
    throw error;
  }
}
