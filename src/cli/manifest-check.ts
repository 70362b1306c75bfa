/**
 * Reads manifests and validates them: the shared first step of `validate` and `plan`.
 */
import type { Readable } from 'node:stream';
import { loadCelEvaluator } from '../validation/cel.ts';
import { loadResourceSchemas } from '../validation/crd-schema.ts';
import { loadPolicy, PolicyError } from '../validation/policy.ts';
import { type Finding, type ValidationReport, validateDocuments } from '../validation/validate.ts';
import { UsageError } from './command-io.ts';
import { MissingPathError, readDocuments, stdinName } from './yaml-documents.ts';

/** A validation report, and whether stdin was read and contained no YAML document. */
export type ManifestReport = ValidationReport & { emptyStdin: boolean };

/**
 * Validates every ServiceAccount and Tenant under `paths`. Unreadable files and YAML syntax
 * errors become findings; a missing path or a bad policy file throws UsageError.
 * `defaultTenant` names the Tenant of ServiceAccounts without spec.tenantRef (see
 * ValidationOptions).
 */
export async function checkManifests(
  paths: readonly string[],
  policyPath: string | undefined,
  stdin: Readable,
  defaultTenant?: string,
): Promise<ManifestReport> {
  if (paths.length === 0) throw new UsageError('name at least one file or folder, or - for stdin');
  if (paths.filter((path) => path === '-').length > 1)
    throw new UsageError('stdin (-) can be read only once');

  let policy: Awaited<ReturnType<typeof loadPolicy>> | undefined;
  try {
    policy = policyPath === undefined ? undefined : await loadPolicy(policyPath);
  } catch (error) {
    if (error instanceof PolicyError) throw new UsageError(error.message);
    throw error;
  }

  let read: Awaited<ReturnType<typeof readDocuments>>;
  try {
    read = await readDocuments(paths, stdin);
  } catch (error) {
    if (error instanceof MissingPathError) throw new UsageError(error.message);
    throw error;
  }

  const report = validateDocuments(read.documents, {
    schemas: await loadResourceSchemas(),
    cel: await loadCelEvaluator(),
    policy,
    defaultTenant,
  });
  const readFindings: Finding[] = read.problems.map((problem) => ({
    file: problem.file,
    ...(problem.index === undefined ? {} : { document: problem.index }),
    ...(problem.line === undefined ? {} : { line: problem.line }),
    path: '',
    message: problem.message,
    source: 'yaml',
  }));
  report.findings.unshift(...readFindings);
  report.notChecked.unshift(...read.notRead);
  // An empty stdin usually means the command piped in failed (helm template, kustomize). A
  // document of only `---` or comments reads as null, so it counts as empty too.
  const emptyStdin =
    paths.includes('-') &&
    !read.documents.some((document) => document.file === stdinName && document.value != null) &&
    !read.problems.some((problem) => problem.file === stdinName);
  return { ...report, emptyStdin };
}

/** Formats a finding as `file:line: document N: Kind ns/name: path: message [source]`. */
export function formatFinding(finding: Finding): string {
  const position = finding.line === undefined ? finding.file : `${finding.file}:${finding.line}`;
  const parts = [position];
  if (finding.document !== undefined) parts.push(`document ${finding.document}`);
  if (finding.resource) parts.push(finding.resource);
  if (finding.path) parts.push(finding.path);
  const tag =
    finding.rule && finding.source === 'policy' ? `policy ${finding.rule}` : finding.source;
  return `${parts.join(': ')}: ${printable(finding.message)} [${tag}]`;
}

/**
 * Control characters, line and paragraph separators and bidirectional formatting characters:
 * a value from a file or from ISC that contains them could move the cursor, recolor or hide text
 * in a terminal or a CI log.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the purpose.
const unprintable = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** Replaces each unprintable character by its `\uXXXX` escape. */
export function printable(text: string): string {
  return text.replace(
    unprintable,
    (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
