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
  UsageError,
} from './command-io.ts';
import { checkManifests, formatFinding } from './manifest-check.ts';
import { computePlan, hasChanges } from './plan-model.ts';
import { renderJson, renderMarkdown, renderTable } from './plan-output.ts';
import { connectReadOnly, resolveTenant, tenantOptions, tenantUsage } from './tenant-connection.ts';

export const planUsage = `Usage: isc-sa-operator plan [options] <file|folder|->...

Validates the ServiceAccounts in the files (as validate does), reads the tenant and prints what
the operator would change: accounts to create, update (per attribute) or adopt, the source,
account schema and identity profile, and accounts on the source that no file claims. The
operator deletes only accounts it owns when their resource is deleted, so the plan never shows
deletions; whether an existing account is owned is recorded in the cluster and shown as unknown.

Options:
  --policy FILE     apply the rules of a ServiceAccountPolicy file
  --output FORMAT   table (default), markdown (for a pull-request comment) or json
  -h, --help        show this help

${tenantUsage}

Exit codes: 0 no change, 3 changes, 1 invalid documents, policy violations, problems that
would stall the operator, or a failed ISC call, 2 usage error.`;

/** Runs the command and returns its exit code. */
export async function runPlan(argv: string[], io: CommandIo = processIo): Promise<number> {
  try {
    const { values, positionals } = parseCommandArgs(argv, {
      ...tenantOptions,
      policy: { type: 'string' },
      output: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help) {
      io.stdout(`${planUsage}\n`);
      return exitCodes.ok;
    }
    const output = choice('output', values.output, ['table', 'markdown', 'json'], 'table');
    const tenant = await resolveTenant(values, io);
    const report = await checkManifests(positionals, values.policy, io.stdin);
    const api = connectReadOnly(tenant, io);

    // The API server would reject invalid documents, so the operator would never see them.
    const invalid = report.findings.filter((finding) => finding.source !== 'policy');
    if (invalid.length > 0) {
      for (const finding of invalid) io.stderr(`${formatFinding(finding)}\n`);
      io.stderr(`plan: ${invalid.length} invalid documents; fix them first (see validate)\n`);
      return exitCodes.failed;
    }
    const violations = report.findings.filter((finding) => finding.source === 'policy');

    const plan = await computePlan(api, tenant, report.resources);
    const render = { table: renderTable, markdown: renderMarkdown, json: renderJson }[output];
    io.stdout(render(plan, violations));
    if (violations.length > 0 || plan.problems.length > 0) return exitCodes.failed;
    return hasChanges(plan) ? exitCodes.changes : exitCodes.ok;
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`plan: ${error.message}\n\n${planUsage}\n`);
      return exitCodes.usage;
    }
    if (isIscError(error)) {
      io.stderr(`plan: reading the tenant failed: ${describeError(error)}\n`);
      return exitCodes.failed;
    }
    throw error;
  }
}
