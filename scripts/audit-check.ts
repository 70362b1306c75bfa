// Checks an installed npm dependency tree against advisories: the registry's `npm audit` report
// when the registry responds, otherwise a committed list of advisory version ranges. Pure
// functions only; scripts/audit.ts runs npm and prints the result.

/** One advisory from the committed list (security/advisories.json). */
export interface Advisory {
  id: string;
  aliases: string[];
  package: string;
  /** npm-style range: comparators joined by spaces, alternatives joined by `||`. */
  affected: string;
  cvss?: string;
  source: string;
}

/** A committed decision to accept one advisory for one package, with the reason. */
export interface AuditException {
  id: string;
  package: string;
  reason: string;
  /** ISO date (YYYY-MM-DD) after which the exception no longer applies. */
  expires?: string;
}

export interface InstalledPackage {
  name: string;
  version: string;
}

export interface Finding {
  advisory: Advisory;
  installed: InstalledPackage;
  exception?: AuditException;
}

interface ParsedVersion {
  numbers: [number, number, number];
  prerelease: string[];
}

const versionPattern = /^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/;

export function parseVersion(text: string): ParsedVersion {
  const match = versionPattern.exec(text.trim());
  if (match === null) throw new Error(`invalid version "${text}": expected MAJOR.MINOR.PATCH`);
  return {
    numbers: [Number(match[1]), Number(match[2]), Number(match[3])],
    prerelease: match[4] === undefined ? [] : match[4].split('.'),
  };
}

function comparePrereleaseIdentifiers(left: string, right: string): number {
  const leftIsNumber = /^\d+$/.test(left);
  const rightIsNumber = /^\d+$/.test(right);
  if (leftIsNumber && rightIsNumber) return Number(left) - Number(right);
  // SemVer 2.0.0 ranks numeric identifiers below alphanumeric ones.
  if (leftIsNumber) return -1;
  if (rightIsNumber) return 1;
  if (left < right) return -1;
  if (left > right) return 1;
  return 0;
}

/** Compares two versions by SemVer 2.0.0 precedence; the result's sign is the order. */
export function compareVersions(left: string, right: string): number {
  const a = parseVersion(left);
  const b = parseVersion(right);
  for (let i = 0; i < 3; i++) {
    const difference = a.numbers[i]! - b.numbers[i]!;
    if (difference !== 0) return difference;
  }
  if (a.prerelease.length === 0 || b.prerelease.length === 0) {
    // A release ranks above every prerelease of the same MAJOR.MINOR.PATCH.
    return b.prerelease.length - a.prerelease.length;
  }
  const shared = Math.min(a.prerelease.length, b.prerelease.length);
  for (let i = 0; i < shared; i++) {
    const difference = comparePrereleaseIdentifiers(a.prerelease[i]!, b.prerelease[i]!);
    if (difference !== 0) return difference;
  }
  return a.prerelease.length - b.prerelease.length;
}

type Operator = '<' | '<=' | '>' | '>=' | '=';

interface Comparator {
  operator: Operator;
  version: string;
}

const comparatorPattern =
  /(<=|>=|<|>|=)?\s*(v?\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?)/y;

/**
 * Parses a range such as `<2.5.4||>=3.0.0 <3.0.4` into alternatives of comparators. Supports the
 * forms advisory databases publish (`<`, `<=`, `>`, `>=`, `=` or a bare version, spaces after an
 * operator), not npm's `^`, `~`, `x` or hyphen ranges, and throws on anything else.
 */
export function parseRange(range: string): Comparator[][] {
  return range.split('||').map((alternative) => {
    const comparators: Comparator[] = [];
    const text = alternative.trim();
    let position = 0;
    while (position < text.length) {
      comparatorPattern.lastIndex = position;
      const match = comparatorPattern.exec(text);
      if (match === null) {
        throw new Error(`invalid range "${range}": cannot parse "${text.slice(position)}"`);
      }
      comparators.push({ operator: (match[1] ?? '=') as Operator, version: match[2]! });
      position = comparatorPattern.lastIndex;
      while (text[position] === ' ') position++;
    }
    if (comparators.length === 0) throw new Error(`invalid range "${range}": empty alternative`);
    return comparators;
  });
}

function satisfiesComparator(version: string, comparator: Comparator): boolean {
  const order = compareVersions(version, comparator.version);
  switch (comparator.operator) {
    case '<':
      return order < 0;
    case '<=':
      return order <= 0;
    case '>':
      return order > 0;
    case '>=':
      return order >= 0;
    case '=':
      return order === 0;
  }
}

/**
 * Reports whether a version lies inside a range. Prereleases are compared by plain precedence,
 * unlike npm's semver, which keeps them out of ranges that do not name them: for an advisory
 * check, reporting a prerelease inside an affected span is the safer error.
 */
export function satisfies(version: string, range: string): boolean {
  return parseRange(range).some((comparators) =>
    comparators.every((comparator) => satisfiesComparator(version, comparator)),
  );
}

interface NpmLsNode {
  version?: string;
  extraneous?: boolean;
  missing?: boolean;
  dependencies?: Record<string, NpmLsNode>;
}

/**
 * Collects every distinct name@version from `npm ls --all --json` output. Skips extraneous
 * entries (with --omit=dev, npm lists installed dev-only packages that way) and missing ones,
 * such as optional peer dependencies that are not installed.
 */
export function collectInstalled(tree: NpmLsNode): InstalledPackage[] {
  const seen = new Map<string, InstalledPackage>();
  const visit = (node: NpmLsNode): void => {
    for (const [name, child] of Object.entries(node.dependencies ?? {})) {
      if (child.extraneous === true || child.missing === true || child.version === undefined) {
        continue;
      }
      seen.set(`${name}@${child.version}`, { name, version: child.version });
      visit(child);
    }
  };
  visit(tree);
  return [...seen.values()].sort(
    (a, b) => a.name.localeCompare(b.name) || compareVersions(a.version, b.version),
  );
}

function exceptionMatches(exception: AuditException, advisory: Advisory): boolean {
  if (exception.package !== advisory.package) return false;
  return exception.id === advisory.id || advisory.aliases.includes(exception.id);
}

/** Returns true when the exception has no expiry date or `today` is on or before it. */
export function exceptionIsActive(exception: AuditException, today: string): boolean {
  return exception.expires === undefined || today <= exception.expires;
}

/**
 * Matches each installed package against the advisories for its name. A finding carries the
 * active exception that covers it, if any.
 */
export function findAdvisoryMatches(
  installed: InstalledPackage[],
  advisories: Advisory[],
  exceptions: AuditException[],
  today: string,
): Finding[] {
  const findings: Finding[] = [];
  for (const item of installed) {
    for (const advisory of advisories) {
      if (advisory.package !== item.name || !satisfies(item.version, advisory.affected)) continue;
      const exception = exceptions.find(
        (candidate) => exceptionMatches(candidate, advisory) && exceptionIsActive(candidate, today),
      );
      findings.push(
        exception === undefined
          ? { advisory, installed: item }
          : { advisory, installed: item, exception },
      );
    }
  }
  return findings;
}

/** Returns the exceptions that cover none of the findings, so stale entries can be removed. */
export function unusedExceptions(
  exceptions: AuditException[],
  findings: Finding[],
): AuditException[] {
  return exceptions.filter(
    (exception) => !findings.some((finding) => finding.exception === exception),
  );
}

/** Validates the committed exceptions file; every entry needs an id, a package and a reason. */
export function parseExceptions(document: unknown): AuditException[] {
  const list = (document as { exceptions?: unknown }).exceptions;
  if (!Array.isArray(list)) throw new Error('exceptions file: missing "exceptions" array');
  return list.map((entry: Partial<AuditException>, index) => {
    for (const field of ['id', 'package', 'reason'] as const) {
      if (typeof entry[field] !== 'string' || entry[field].trim() === '') {
        throw new Error(`exceptions file: entry ${index} has no ${field}`);
      }
    }
    if (entry.expires !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(entry.expires)) {
      throw new Error(
        `exceptions file: entry ${index} has expires "${entry.expires}", expected YYYY-MM-DD`,
      );
    }
    return entry as AuditException;
  });
}

/** Validates the committed advisory list and checks that every range parses. */
export function parseAdvisories(document: unknown): Advisory[] {
  const list = (document as { advisories?: unknown }).advisories;
  if (!Array.isArray(list)) throw new Error('advisory list: missing "advisories" array');
  return list.map((entry: Partial<Advisory>, index) => {
    for (const field of ['id', 'package', 'affected', 'source'] as const) {
      if (typeof entry[field] !== 'string' || entry[field].trim() === '') {
        throw new Error(`advisory list: entry ${index} has no ${field}`);
      }
    }
    parseRange(entry.affected!);
    return { ...entry, aliases: entry.aliases ?? [] } as Advisory;
  });
}

/** A high or critical advisory from the registry's `npm audit --json` report. */
export interface RegistryFinding {
  package: string;
  severity: string;
  /** GHSA id taken from the advisory URL, or the registry's numeric source id. */
  id: string;
  range: string;
  exception?: AuditException;
}

export type NpmAuditResult =
  | { kind: 'report'; findings: RegistryFinding[] }
  | { kind: 'unavailable'; reason: string };

interface NpmAuditVia {
  source?: number;
  name?: string;
  url?: string;
  severity?: string;
  range?: string;
}

const failingSeverities = new Set(['high', 'critical']);

/**
 * Reads the JSON that `npm audit --json` prints. A report (auditReportVersion 2) yields its high
 * and critical advisories. An error object, such as the registry's 405 on the bulk advisory
 * endpoint, yields `unavailable` with the reason, and so does output that is not JSON.
 */
export function parseNpmAuditOutput(
  stdout: string,
  exceptions: AuditException[],
  today: string,
): NpmAuditResult {
  let report: {
    vulnerabilities?: Record<string, { via?: (NpmAuditVia | string)[] }>;
    message?: string;
    error?: { summary?: string };
  };
  try {
    report = JSON.parse(stdout);
  } catch {
    return { kind: 'unavailable', reason: 'npm audit printed no JSON report' };
  }
  if (report.vulnerabilities === undefined) {
    const reason = report.message ?? report.error?.summary ?? 'npm audit returned no report';
    return { kind: 'unavailable', reason };
  }
  const findings: RegistryFinding[] = [];
  for (const [name, vulnerability] of Object.entries(report.vulnerabilities)) {
    // String entries in `via` name another vulnerable package; that package has its own entry.
    for (const via of vulnerability.via ?? []) {
      if (typeof via === 'string' || !failingSeverities.has(via.severity ?? '')) continue;
      const id =
        /GHSA-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}/.exec(via.url ?? '')?.[0] ?? String(via.source);
      const exception = exceptions.find(
        (candidate) =>
          candidate.package === name && candidate.id === id && exceptionIsActive(candidate, today),
      );
      const finding: RegistryFinding = {
        package: name,
        severity: via.severity!,
        id,
        range: via.range ?? '',
      };
      findings.push(exception === undefined ? finding : { ...finding, exception });
    }
  }
  return { kind: 'report', findings };
}
