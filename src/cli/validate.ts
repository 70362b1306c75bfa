/**
 * `isc-sa-operator validate`: checks ServiceAccount and Tenant manifests without a cluster.
 */
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
import { checkManifests, formatFinding, printable } from './manifest-check.ts';

export const validateUsage = `Usage: isc-sa-operator validate [options] <file|folder|->...

Checks every ServiceAccount and Tenant (API group isc.sailpoint) in the YAML files, folders
(recursively: *.yaml, *.yml, *.json) or stdin (-) against the schemas and CEL rules of the CRDs in
crds/, Kubernetes' name rules, duplicate account ids and names on one tenant source, and an
optional policy. Other documents are skipped. A folder with a kustomization.yaml is read
through its resources list; pipe the output of kubectl kustomize or helm template to - to check
rendered objects. Each problem names the file, line, document number and field path.

Options:
  --policy FILE     apply the rules of a ServiceAccountPolicy file (see examples/policy.yaml)
  --format FORMAT   text (default) or json
  --output FILE     write the report to FILE instead of stdout
  --verbose         also list the CEL transition rules, which the API server checks on
                    update only, against the stored object
  -h, --help        show this help

Exit codes: 0 valid, 1 invalid or unreadable documents, policy violations or an empty stdin,
2 usage error (such as a path that does not exist).`;

/** Runs the command and returns its exit code. */
export async function runValidate(argv: string[], io: CommandIo = processIo): Promise<number> {
  try {
    const { values, positionals } = parseCommandArgs(argv, {
      policy: { type: 'string' },
      format: { type: 'string' },
      output: { type: 'string' },
      verbose: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help) {
      io.stdout(`${validateUsage}\n`);
      return exitCodes.ok;
    }
    const format = choice('format', values.format, ['text', 'json'], 'text');
    const report = await checkManifests(positionals, values.policy, io.stdin);
    if (report.emptyStdin) {
      io.stderr(
        'validate: stdin is empty: nothing to validate. Check that the command piped into ' +
          'validate - (helm template, kubectl kustomize) succeeded and printed YAML\n',
      );
      return exitCodes.failed;
    }

    const lines: string[] = [];
    if (format === 'json') {
      const resources = report.resources.map((resource) => ({
        kind: resource.kind,
        name: resource.key,
        file: resource.document.file,
        document: resource.document.index,
        line: resource.document.line,
        valid: resource.valid,
      }));
      const json = {
        valid: report.findings.length === 0,
        resources,
        findings: report.findings,
        skippedDocuments: report.skippedDocuments,
        notChecked: report.notChecked,
        updateOnlyRules: report.updateOnlyRules,
      };
      lines.push(JSON.stringify(json, null, 2));
    } else {
      for (const finding of report.findings) lines.push(formatFinding(finding));
      for (const note of report.notChecked) lines.push(`not checked: ${printable(note)}`);
      if (values.verbose) {
        for (const rule of report.updateOnlyRules) {
          lines.push(`checked on update only: ${printable(rule)}`);
        }
      }
      const counts = new Map<string, number>();
      for (const resource of report.resources)
        counts.set(resource.kind, (counts.get(resource.kind) ?? 0) + 1);
      // Kind names take a plain "s" in the plural, as their CRDs' plural names do.
      const kinds =
        [...counts].map(([kind, count]) => plural(count, kind, `${kind}s`)).join(', ') ||
        'no ServiceAccount or Tenant';
      const problems = plural(report.findings.length, 'problem', 'problems');
      const skipped = plural(report.skippedDocuments, 'other document', 'other documents');
      lines.push(`${kinds} checked, ${problems}, ${skipped} skipped`);
    }
    await writeResult(io, values.output, `${lines.join('\n')}\n`);
    return report.findings.length === 0 ? exitCodes.ok : exitCodes.failed;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    return reportUsageError(io, 'validate', error);
  }
}

function plural(count: number, one: string, many: string): string {
  return `${count} ${count === 1 ? one : many}`;
}
