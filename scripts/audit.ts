// Audits the dependencies. Runs `npm audit --omit=dev --audit-level=high` and fails on
// a high or critical advisory without an exception. When the registry's advisory endpoint
// returns no report (some registries and proxies reject its POST with 405), it prints the reason
// and checks the whole installed tree against the committed list in security/advisories.json
// instead. That check fails on any installed version inside an affected range without an
// exception. It covers dev dependencies too, because CI installs them and a package can run
// code when it is installed.
// Exceptions, each with a reason, live in security/audit-exceptions.json.
// Usage: node scripts/audit.ts [--no-registry]
// Exit codes: 0 no unexplained finding, 1 unexplained findings, 2 the check itself failed.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { projectPath } from '../src/paths.ts';
import {
  type AuditException,
  collectInstalled,
  findAdvisoryMatches,
  parseAdvisories,
  parseExceptions,
  parseNpmAuditOutput,
  unusedExceptions,
} from './audit-check.ts';

const advisoriesFile = 'security/advisories.json';
const exceptionsFile = 'security/audit-exceptions.json';

function readJson(relativePath: string): unknown {
  return JSON.parse(readFileSync(projectPath(relativePath), 'utf8'));
}

function runNpm(args: string[]): { stdout: string; status: number | null; error?: Error } {
  const result = spawnSync('npm', args, {
    cwd: projectPath(),
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    timeout: 180_000,
  });
  return result.error === undefined
    ? { stdout: result.stdout, status: result.status }
    : { stdout: result.stdout ?? '', status: result.status, error: result.error };
}

function describeException(exception: AuditException): string {
  const until = exception.expires === undefined ? '' : ` (until ${exception.expires})`;
  return `accepted${until}: ${exception.reason}`;
}

/** Returns the exit code for the registry's report. */
function reportRegistryFindings(
  findings: {
    package: string;
    severity: string;
    id: string;
    range: string;
    exception?: AuditException;
  }[],
): number {
  let unexplained = 0;
  for (const finding of findings) {
    const line = `${finding.severity} ${finding.id} in ${finding.package} ${finding.range}`;
    if (finding.exception === undefined) {
      unexplained++;
      console.log(`FAIL ${line}`);
    } else {
      console.log(`ok   ${line}, ${describeException(finding.exception)}`);
    }
  }
  console.log(
    `audit (npm audit --omit=dev): ${findings.length} high or critical advisories, ` +
      `${unexplained} without an exception`,
  );
  return unexplained === 0 ? 0 : 1;
}

/** Returns the exit code for the check against the committed advisory list. */
function checkCommittedList(exceptions: AuditException[], today: string): number {
  const document = readJson(advisoriesFile) as { gathered?: string; searchedPackages?: string[] };
  const advisories = parseAdvisories(document);
  const listing = runNpm(['ls', '--all', '--json']);
  if (listing.error !== undefined) {
    console.error(`audit: npm ls failed to start: ${listing.error.message}`);
    return 2;
  }
  // npm ls exits with 1 when it reports problems such as extraneous packages. Its JSON is
  // complete even then, so only output that does not parse is an error.
  let tree: unknown;
  try {
    tree = JSON.parse(listing.stdout);
  } catch {
    console.error(`audit: npm ls --all --json printed no JSON (exit ${listing.status})`);
    return 2;
  }
  const installed = collectInstalled(tree as Parameters<typeof collectInstalled>[0]);
  const findings = findAdvisoryMatches(installed, advisories, exceptions, today);

  let unexplained = 0;
  for (const finding of findings) {
    const { advisory, installed: item } = finding;
    const line = `${advisory.id} in ${item.name}@${item.version} (affected ${advisory.affected})`;
    if (finding.exception === undefined) {
      unexplained++;
      console.log(`FAIL ${line}`);
    } else {
      console.log(`ok   ${line}, ${describeException(finding.exception)}`);
    }
  }
  for (const exception of unusedExceptions(exceptions, findings)) {
    console.log(
      `warn exception ${exception.id} for ${exception.package} matches nothing installed`,
    );
  }
  const searched = new Set(document.searchedPackages ?? []);
  const notSearched = [...new Set(installed.map((item) => item.name))].filter(
    (name) => !searched.has(name),
  );
  if (notSearched.length > 0) {
    // NOTE: a package outside searchedPackages was never looked up, so the list has no data on
    // it. Look it up and add it (with its advisories, if any) when it enters the tree.
    console.log(`warn not looked up when the list was gathered: ${notSearched.join(', ')}`);
  }
  const names = new Set(installed.map((item) => item.name)).size;
  console.log(
    `audit (${advisoriesFile}, gathered ${document.gathered ?? 'on an unknown date'}): ` +
      `${installed.length} installed versions of ${names} packages checked against ` +
      `${advisories.length} advisories, ${findings.length} inside an affected range, ` +
      `${unexplained} without an exception, ${notSearched.length} packages not looked up`,
  );
  return unexplained === 0 ? 0 : 1;
}

function main(): number {
  const args = process.argv.slice(2);
  const unknown = args.filter((arg) => arg !== '--no-registry');
  if (unknown.length > 0) {
    console.error(
      `audit: unknown argument ${unknown.join(' ')}; usage: node scripts/audit.ts [--no-registry]`,
    );
    return 2;
  }
  const today = new Date().toISOString().slice(0, 10);
  const exceptions = parseExceptions(readJson(exceptionsFile));

  if (!args.includes('--no-registry')) {
    const audit = runNpm(['audit', '--omit=dev', '--audit-level=high', '--json']);
    const result =
      audit.error === undefined
        ? parseNpmAuditOutput(audit.stdout, exceptions, today)
        : { kind: 'unavailable' as const, reason: `npm failed to start: ${audit.error.message}` };
    if (result.kind === 'report') return reportRegistryFindings(result.findings);
    console.log(`audit: npm audit returned no report (${result.reason})`);
  }
  console.log(
    `audit: checking the installed tree, dev dependencies included, against ${advisoriesFile}`,
  );
  return checkCommittedList(exceptions, today);
}

try {
  process.exitCode = main();
} catch (error) {
  console.error(`audit: ${(error as Error).message}`);
  process.exitCode = 2;
}
