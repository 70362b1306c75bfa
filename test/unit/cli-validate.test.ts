/**
 * Offline validation of manifests against the CRDs in crds/: field paths, lines and document
 * numbers of each finding, and the exit codes of `validate`.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { CommandIo } from '../../src/cli/command-io.ts';
import { runValidate } from '../../src/cli/validate.ts';
import { parseInto, type ReadResult } from '../../src/cli/yaml-documents.ts';
import { ClaimIndex, sourceScope } from '../../src/controller/claim-index.ts';
import { TenantRegistry } from '../../src/controller/tenant-registry.ts';
import {
  defaultTenantAnnotation,
  objectKey,
  type ServiceAccount,
  type Tenant,
} from '../../src/kube/types.ts';
import { loadCelEvaluator } from '../../src/validation/cel.ts';
import { loadResourceSchemas, type ResourceSchema } from '../../src/validation/crd-schema.ts';
import { validateDocuments } from '../../src/validation/validate.ts';
import { baseUrlCases, emailCases } from '../support/admission-cases.ts';

let schemas: ResourceSchema[];
let cel: Awaited<ReturnType<typeof loadCelEvaluator>>;

test.before(async () => {
  schemas = await loadResourceSchemas();
  cel = await loadCelEvaluator();
});

function check(text: string) {
  const read: ReadResult = { documents: [], problems: [], notRead: [] };
  parseInto(read, 'in.yaml', text);
  return { read, report: validateDocuments(read.documents, { schemas, cel }) };
}

const header = `apiVersion: isc.sailpoint/v1alpha1
kind: ServiceAccount
metadata:
  name: audit01
  namespace: default
spec:
`;

// Each case: the spec lines (from line 7 on), then the expected path, line and message part.
const invalidCases: Array<[string, string, string, number, string]> = [
  ['missing email', '  purpose: x\n', 'spec.email', 6, 'required'],
  ['unknown field', '  email: a@example.com\n  owner: me\n', 'spec.owner', 8, 'unknown field'],
  [
    'bad enum',
    '  email: a@example.com\n  deletionPolicy: Keep\n',
    'spec.deletionPolicy',
    8,
    'Delete, Orphan',
  ],
  ['bad account id', '  email: a@example.com\n  accountId: -x\n', 'spec.accountId', 8, 'pattern'],
  [
    'duplicate user level',
    '  email: a@example.com\n  userLevel: [HELPDESK, HELPDESK]\n',
    'spec.userLevel',
    8,
    'duplicate',
  ],
  [
    'non-string attribute',
    '  email: a@example.com\n  attributes:\n    team: 7\n',
    'spec.attributes.team',
    9,
    'string',
  ],
  [
    'purpose too long',
    `  email: a@example.com\n  purpose: ${'x'.repeat(1025)}\n`,
    'spec.purpose',
    8,
    '1024',
  ],
];

for (const [name, spec, path, line, message] of invalidCases) {
  test(`schema: ${name}`, () => {
    const { report } = check(header + spec);
    const finding = report.findings.find((candidate) => candidate.path === path);
    assert.ok(finding, `no finding at ${path}: ${JSON.stringify(report.findings)}`);
    assert.is(finding.line, line);
    assert.is(finding.document, 1);
    assert.is(finding.source, 'schema');
    assert.ok(finding.message.includes(message), finding.message);
    assert.is(report.resources[0]?.valid, false);
  });
}

test('valid ServiceAccount and Tenant pass', () => {
  const { report } = check(`${header}  email: a@example.com\n  purpose: Audit\n---
apiVersion: isc.sailpoint/v1alpha1
kind: Tenant
metadata:
  name: default
spec:
  baseUrl: http://127.0.0.1:8080
  credentialsSecretRef: { namespace: isc-system, name: creds }
`);
  assert.equal(report.findings, []);
  assert.is(report.resources.length, 2);
  assert.ok(report.resources.every((resource) => resource.valid));
});

test('defaults are filled in', () => {
  const { report } = check(`${header}  email: a@example.com\n`);
  const spec = report.resources[0]!.object.spec as Record<string, unknown>;
  assert.is(spec.deletionPolicy, 'Delete');
  assert.is(spec.adopt, false);
});

test('findings name the document', () => {
  const { report } = check(`apiVersion: v1
kind: ConfigMap
metadata: { name: other }
---
${header}  email: broken
`);
  assert.is(report.skippedDocuments, 1);
  assert.is(report.findings[0]?.document, 2);
  assert.is(report.findings[0]?.line, 11);
});

test('metadata name must be a DNS subdomain', () => {
  const { report } = check(`${header.replace('audit01', 'Audit_01')}  email: a@example.com\n`);
  assert.is(report.findings[0]?.path, 'metadata.name');
  assert.is(report.findings[0]?.line, 4);
  assert.is(report.findings[0]?.source, 'kubernetes');
});

test('unknown version of the group', () => {
  const { report } = check(`${header.replace('v1alpha1', 'v9')}  email: a@example.com\n`);
  assert.ok(report.findings[0]?.message.includes('no CRD'));
});

test('duplicate account id across documents', () => {
  const second = header.replace('audit01', 'audit02');
  const { report } = check(
    `${header}  email: a@example.com\n  accountId: SA-1\n---\n${second}  email: b@example.com\n  accountId: sa-1\n`,
  );
  assert.is(report.findings.length, 1);
  assert.is(report.findings[0]?.source, 'operator');
  assert.is(report.findings[0]?.path, 'spec.accountId');
  assert.is(report.findings[0]?.line, 17);
  assert.ok(report.findings[0]?.message.includes('default/audit01'));
});

test('duplicate account id beside schema errors', () => {
  const second = header.replace('audit01', 'audit02');
  const invalid = '  email: 7\n  accountId: SA-1\n';
  const valid = '  email: b@example.com\n  accountId: sa-1\n';
  for (const [first, last] of [
    [invalid, valid],
    [valid, invalid],
  ]) {
    const { report } = check(`${header}${first}---\n${second}${last}`);
    const duplicate = report.findings.find((finding) => finding.source === 'operator');
    assert.ok(duplicate, `no duplicate finding: ${JSON.stringify(report.findings)}`);
    assert.is(duplicate.path, 'spec.accountId');
    assert.is(duplicate.document, 2);
    assert.is(duplicate.line, 17);
    assert.match(duplicate.message, 'also claimed by ServiceAccount default/audit01');
    assert.is(report.findings.filter((finding) => finding.source === 'schema').length, 1);
  }
});

function tenantDocument(name: string, baseUrl: string, extra = ''): string {
  return `apiVersion: isc.sailpoint/v1alpha1
kind: Tenant
metadata:
  name: ${name}
${extra}spec:
  baseUrl: ${baseUrl}
  credentialsSecretRef: { namespace: isc-system, name: ${name} }
`;
}

function serviceAccountDocument(name: string, specLines: string, statusLines = ''): string {
  return `apiVersion: isc.sailpoint/v1alpha1
kind: ServiceAccount
metadata:
  name: ${name}
  namespace: default
spec:
  email: ${name}@example.com
  accountId: SA-1
${specLines}${statusLines}`;
}

const markedDefault = '  annotations: { isc.sailpoint/default-tenant: "true" }\n';

// Each case: documents, then the ServiceAccounts flagged as duplicates.
const tenantScopeCases: Array<[string, string[], string[]]> = [
  [
    'two tenants',
    [
      serviceAccountDocument('prod', ''),
      serviceAccountDocument('sandbox', '  tenantRef: { name: sandbox }\n'),
    ],
    [],
  ],
  [
    'absent ref and ref to default',
    [
      serviceAccountDocument('implicit', ''),
      serviceAccountDocument('explicit', '  tenantRef: { name: default }\n'),
    ],
    ['default/explicit'],
  ],
  [
    'absent ref and ref to the marked Tenant',
    [
      tenantDocument('production', 'https://acme.api.identitynow.com', markedDefault),
      serviceAccountDocument('implicit', ''),
      serviceAccountDocument('explicit', '  tenantRef: { name: production }\n'),
      serviceAccountDocument('named-default', '  tenantRef: { name: default }\n'),
    ],
    ['default/explicit'],
  ],
  [
    'status.tenant keeps the tenant',
    [
      serviceAccountDocument('recorded', '', 'status:\n  tenant: sandbox\n'),
      serviceAccountDocument('explicit', '  tenantRef: { name: sandbox }\n'),
      serviceAccountDocument('implicit', ''),
    ],
    ['default/explicit'],
  ],
  [
    'two Tenants on one source',
    [
      tenantDocument('a', 'https://acme.api.identitynow.com'),
      tenantDocument('b', 'https://ACME.api.identitynow.com/'),
      serviceAccountDocument('on-a', '  tenantRef: { name: a }\n'),
      serviceAccountDocument('on-b', '  tenantRef: { name: b }\n'),
    ],
    ['default/on-b'],
  ],
  [
    'two sources of one ISC tenant',
    [
      tenantDocument('a', 'https://acme.api.identitynow.com'),
      tenantDocument('b', 'https://acme.api.identitynow.com', '').replace(
        'spec:\n',
        'spec:\n  source: { name: Robots }\n',
      ),
      serviceAccountDocument('on-a', '  tenantRef: { name: a }\n'),
      serviceAccountDocument('on-b', '  tenantRef: { name: b }\n'),
    ],
    [],
  ],
];

for (const [name, documents, flagged] of tenantScopeCases) {
  test(`duplicates per tenant: ${name}`, () => {
    const { report } = check(documents.join('---\n'));
    const duplicates = report.findings.filter((finding) => finding.source === 'operator');
    const otherFindings = report.findings.filter((finding) => finding.source !== 'operator');
    assert.equal(otherFindings, []);
    assert.equal(
      duplicates.map((finding) => finding.resource),
      flagged.map((key) => `ServiceAccount ${key}`),
    );
  });
}

test('duplicate message names the tenant', () => {
  const { report } = check(
    [
      tenantDocument('a', 'https://acme.api.identitynow.com'),
      tenantDocument('b', 'https://acme.api.identitynow.com'),
      serviceAccountDocument('on-a', '  tenantRef: { name: a }\n'),
      serviceAccountDocument('on-b', '  tenantRef: { name: b }\n'),
    ].join('---\n'),
  );
  assert.match(
    report.findings[0]?.message ?? '',
    'in Tenant "b", which uses the source of Tenant "a"',
  );
});

test('defaultTenant places unreferenced accounts', () => {
  const read: ReadResult = { documents: [], problems: [], notRead: [] };
  parseInto(
    read,
    'in.yaml',
    [
      serviceAccountDocument('implicit', ''),
      serviceAccountDocument('explicit', '  tenantRef: { name: emulated }\n'),
    ].join('---\n'),
  );
  const planned = validateDocuments(read.documents, { schemas, cel, defaultTenant: 'emulated' });
  assert.equal(
    planned.findings.map((finding) => finding.resource),
    ['ServiceAccount default/explicit'],
  );
  const plain = validateDocuments(read.documents, { schemas, cel });
  assert.equal(plain.findings, []);
});

test('validate agrees with claim index', () => {
  // The operator stalls a resource when the claim index finds an older claimant (here an
  // earlier document). On one input set, validate must flag exactly those resources.
  const documents = [
    tenantDocument('production', 'https://acme.api.identitynow.com', markedDefault),
    tenantDocument('sandbox', 'https://acme-sb.api.identitynow.com'),
    tenantDocument('mirror', 'https://acme-sb.api.identitynow.com'),
    tenantDocument('robots', 'https://acme-sb.api.identitynow.com').replace(
      'spec:\n',
      'spec:\n  source: { name: Robots }\n',
    ),
    serviceAccountDocument('implicit', ''),
    serviceAccountDocument('explicit', '  tenantRef: { name: production }\n'),
    serviceAccountDocument('named-default', '  tenantRef: { name: default }\n'),
    serviceAccountDocument('sandbox', '  tenantRef: { name: sandbox }\n'),
    serviceAccountDocument('mirrored', '  tenantRef: { name: mirror }\n'),
    serviceAccountDocument('robot', '  tenantRef: { name: robots }\n'),
    serviceAccountDocument('recorded', '', 'status:\n  tenant: robots\n').replace('SA-1', 'SA-2'),
    serviceAccountDocument('robot-two', '  tenantRef: { name: robots }\n').replace('SA-1', 'sa-2'),
  ];
  const { report } = check(documents.join('---\n'));
  const validateFlagged = report.findings
    .filter((finding) => finding.source === 'operator')
    .map((finding) => finding.resource?.replace('ServiceAccount ', ''));

  const registry = new TenantRegistry();
  const order = new Map<string, number>();
  const cache = new Map<string, ServiceAccount>();
  const index = new ClaimIndex(
    (key) => cache.get(key),
    (resource) => registry.claimScope(resource.spec.tenantRef?.name ?? resource.status?.tenant),
  );
  for (const checked of report.resources) {
    if (checked.kind === 'Tenant') {
      const tenant = checked.object as unknown as Tenant;
      registry.set(checked.key, {
        connection: undefined,
        ready: false,
        reason: 'Connecting',
        message: '',
        markedDefault: tenant.metadata.annotations?.[defaultTenantAnnotation] === 'true',
        sourceScope: sourceScope(
          tenant.spec.baseUrl,
          tenant.spec.source?.name ?? 'Service Accounts',
        ),
      });
      continue;
    }
    const resource = {
      ...(checked.object as unknown as ServiceAccount),
      metadata: { ...(checked.object.metadata as ServiceAccount['metadata']), uid: checked.key },
    };
    order.set(checked.key, order.size);
    cache.set(checked.key, resource);
    index.set(resource);
  }
  const operatorStalls = [...cache.entries()]
    .filter(([key, resource]) =>
      index.sharing(resource).some((peer) => order.get(objectKey(peer))! < order.get(key)!),
    )
    .map(([key]) => key);

  assert.equal(validateFlagged, ['default/explicit', 'default/mirrored', 'default/robot-two']);
  assert.equal(operatorStalls, validateFlagged);
});

test('documents without name or spec claim nothing', () => {
  const bare = 'apiVersion: isc.sailpoint/v1alpha1\nkind: ServiceAccount\n';
  const { report } = check(
    `${bare}metadata: { name: "", namespace: team-a }\n---\n${bare}metadata: { name: "", namespace: team-b }\nspec: 7\n`,
  );
  assert.is(report.resources.length, 2);
  assert.not.ok(
    report.findings.some((finding) => finding.source === 'operator'),
    JSON.stringify(report.findings),
  );
});

test('same resource defined twice', () => {
  const { report } = check(
    `${header}  email: a@example.com\n---\n${header}  email: b@example.com\n`,
  );
  assert.is(report.findings.length, 1);
  assert.ok(report.findings[0]?.message.includes('also defined in in.yaml:1'));
});

test('List items are checked', () => {
  const { report } = check(`apiVersion: v1
kind: List
items:
  - apiVersion: isc.sailpoint/v1alpha1
    kind: ServiceAccount
    metadata: { name: listed, namespace: default }
    spec:
      email: nope
`);
  assert.is(report.findings[0]?.path, 'spec.email');
  assert.is(report.findings[0]?.line, 8);
});

// Each case: the text, then the line of the first problem and a part of its message. An
// unclosed quote or bracket is noticed on a later line but reported where it opens.
const syntaxCases: Array<[string, string, number, string]> = [
  [
    'unclosed flow sequence',
    `${header}  email: a@example.com\n  purpose: [unclosed\n`,
    8,
    'not closed',
  ],
  [
    'unclosed sequence, more lines',
    `${header}  purpose: [unclosed\n  email: a@example.com\n`,
    7,
    'not closed',
  ],
  ['unclosed double quote', `${header}  purpose: "open\n  email: a@example.com\n`, 7, 'quote'],
  ['unclosed single quote', `${header}  purpose: 'it''s\n  email: a@example.com\n`, 7, 'quote'],
  ['bad indentation', `${header}  email: a@example.com\n purpose: x\n`, 8, 'same column'],
  ['tab indentation', `${header}\temail: a@example.com\n`, 7, 'Tabs'],
  ['duplicate key', `${header}  email: a@example.com\n  email: b@example.com\n`, 8, 'unique'],
  ['second document', `a: 1\n---\n${header}  purpose: [x\n`, 9, 'not closed'],
  ['alias without anchor', `${header}  email: *missing\n`, 1, 'Unresolved alias'],
];

for (const [name, text, line, message] of syntaxCases) {
  test(`YAML syntax: ${name}`, () => {
    const { read } = check(text);
    const problem = read.problems[0];
    assert.ok(problem, 'no problem reported');
    assert.is(problem.line, line, problem.message);
    assert.ok(problem.message.includes(message), problem.message);
    assert.not.ok(/at line \d/.test(problem.message), problem.message);
  });
}

test('Tenant with a namespace', () => {
  const { report } = check(`apiVersion: isc.sailpoint/v1alpha1
kind: Tenant
metadata:
  name: default
  namespace: isc-system
spec:
  baseUrl: http://127.0.0.1:8080
  credentialsSecretRef: { namespace: isc-system, name: creds }
`);
  assert.is(report.findings.length, 1);
  assert.is(report.findings[0]?.path, 'metadata.namespace');
  assert.is(report.findings[0]?.line, 5);
  assert.is(report.findings[0]?.source, 'kubernetes');
  assert.ok(report.findings[0]?.message.includes('cluster-scoped'));
});

test('CEL rules run or are listed as not checked', () => {
  const { report } = check(`${header}  email: a@example.com\n  attributes:\n    e-mail: x\n`);
  if (cel) {
    const finding = report.findings.find((candidate) => candidate.source === 'cel');
    assert.is(finding?.path, 'spec.attributes');
    assert.is(finding?.line, 8);
  } else {
    assert.equal(report.findings, []);
    assert.ok(report.notChecked.some((note) => note.includes("'e-mail'")));
  }
  assert.ok(report.updateOnlyRules.some((rule) => rule.includes('oldSelf.accountId')));
  assert.not.ok(report.notChecked.some((note) => note.includes('oldSelf')));
});

for (const [email, accepted] of emailCases) {
  test(`email ${JSON.stringify(email)} ${accepted ? 'passes' : 'fails'}`, () => {
    const { report } = check(`${header}  email: ${JSON.stringify(email)}\n`);
    const finding = report.findings.find((candidate) => candidate.path === 'spec.email');
    if (accepted) {
      assert.equal(report.findings, []);
      return;
    }
    assert.ok(finding, `no finding at spec.email: ${JSON.stringify(report.findings)}`);
    assert.is(finding.line, 7);
    assert.match(finding.message, 'must be an ASCII address');
  });
}

const tenantHeader = `apiVersion: isc.sailpoint/v1alpha1
kind: Tenant
metadata:
  name: sandbox
spec:
  credentialsSecretRef: { namespace: isc-system, name: creds }
`;

for (const [baseUrl, accepted] of baseUrlCases) {
  test(`Tenant baseUrl ${baseUrl} ${accepted ? 'passes' : 'fails'}`, () => {
    const { report } = check(`${tenantHeader}  baseUrl: ${JSON.stringify(baseUrl)}\n`);
    if (accepted) {
      assert.equal(report.findings, []);
      return;
    }
    const finding = report.findings.find((candidate) => candidate.path === 'spec.baseUrl');
    assert.ok(finding, `no finding at spec.baseUrl: ${JSON.stringify(report.findings)}`);
    assert.is(finding.line, 7);
  });
}

test('long metadata.name needs spec.name', () => {
  const longName = 'a'.repeat(129);
  const { report } = check(`${header.replace('audit01', longName)}  email: a@example.com\n`);
  assert.is(report.findings.length, 1, JSON.stringify(report.findings));
  assert.is(report.findings[0]?.path, 'metadata');
  assert.is(report.findings[0]?.source, 'cel');
  assert.match(report.findings[0]!.message, 'at most 128 characters');

  const named = check(
    `${header.replace('audit01', longName)}  name: short\n  email: a@example.com\n`,
  );
  assert.equal(named.report.findings, []);
  const longest = check(`${header.replace('audit01', 'a'.repeat(128))}  email: a@example.com\n`);
  assert.equal(longest.report.findings, []);
});

test('duplicate token names', () => {
  const tokens = ['a', 'b', 'a']
    .map((name, index) => `    - { name: ${name}, secretName: s-${index} }\n`)
    .join('');
  const { report } = check(`${header}  email: a@example.com\n  tokens:\n${tokens}`);
  assert.is(report.findings.length, 1, JSON.stringify(report.findings));
  assert.is(report.findings[0]?.path, 'spec.tokens[2]');
  assert.is(report.findings[0]?.line, 11);
  assert.is(report.findings[0]?.message, 'Duplicate value: {"name":"a"}');
  assert.is(report.findings[0]?.source, 'schema');
});

// The CRD's token rules, as the API server applies them at admission (see crd-admission.test.ts).
const tokenSecretCases: Array<[string, string, string, string]> = [
  [
    'two tokens, one Secret',
    '  tokens:\n    - {name: a, secretName: shared}\n    - {name: b, secretName: shared}\n',
    'spec.tokens',
    'each token needs its own secretName',
  ],
  [
    'token writes bootstrap Secret',
    '  bootstrapCredentialsSecretRef: {name: boot}\n  tokens:\n    - {name: a, secretName: boot}\n',
    'spec.tokens',
    'must differ from bootstrapCredentialsSecretRef.name',
  ],
];

for (const [name, spec, path, message] of tokenSecretCases) {
  test(`cel: ${name}`, () => {
    if (!cel) return;
    const { report } = check(`${header}  email: a@example.com\n${spec}`);
    const finding = report.findings.find((candidate) => candidate.source === 'cel');
    assert.ok(finding, `no CEL finding: ${JSON.stringify(report.findings)}`);
    assert.is(finding.path, path);
    assert.ok(finding.message.includes(message), finding.message);
    assert.is(report.resources[0]?.valid, false);
  });
}

test('cel: distinct token Secrets pass', () => {
  const { report } = check(
    `${header}  email: a@example.com\n  bootstrapCredentialsSecretRef: {name: boot}\n` +
      '  tokens:\n    - {name: a, secretName: one}\n    - {name: b, secretName: two}\n',
  );
  assert.equal(report.findings, []);
});

function capture(stdinText = ''): { io: CommandIo; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    io: {
      stdout: (text) => {
        out += text;
      },
      stderr: (text) => {
        err += text;
      },
      stdin: Readable.from([stdinText]),
      env: {},
    },
    out: () => out,
    err: () => err,
  };
}

test('exit codes of validate', async () => {
  const folder = await mkdtemp(join(tmpdir(), 'cli-validate-'));
  try {
    await writeFile(join(folder, 'good.yaml'), `${header}  email: a@example.com\n`);
    const good = capture();
    assert.is(await runValidate([folder], good.io), 0);
    assert.ok(good.out().includes('1 ServiceAccount checked, 0 problems'));

    await writeFile(join(folder, 'nested.yml'), `${header.replace('audit01', 'b')}  email: bad\n`);
    const bad = capture();
    assert.is(await runValidate([folder], bad.io), 1);
    assert.ok(bad.out().includes(`${join(folder, 'nested.yml')}:7: document 1:`), bad.out());

    const usage = capture();
    assert.is(await runValidate([join(folder, 'missing.yaml')], usage.io), 2);
    assert.ok(usage.err().includes('does not exist'));
    assert.is(await runValidate(['--bogus', folder], capture().io), 2);
    assert.is(await runValidate([], capture().io), 2);
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
});

test('Kustomize folder reads its resources', async () => {
  const folder = await mkdtemp(join(tmpdir(), 'cli-kustomize-'));
  try {
    await mkdir(join(folder, 'accounts'));
    await writeFile(
      join(folder, 'kustomization.yaml'),
      'resources:\n  - accounts\n  - https://example.com/remote.yaml\npatches:\n  - path: patch.yaml\n',
    );
    await writeFile(join(folder, 'accounts', 'audit01.yaml'), `${header}  email: a@example.com\n`);
    // A patch is a partial object: read on its own it would lack spec.email.
    await writeFile(join(folder, 'patch.yaml'), `${header}  purpose: Patched\n`);
    const result = capture();
    assert.is(await runValidate([folder], result.io), 0, result.out());
    assert.ok(result.out().includes('1 ServiceAccount checked, 0 problems'), result.out());
    assert.ok(result.out().includes('patches not applied'), result.out());
    assert.ok(result.out().includes('remote resource https://example.com/remote.yaml'));
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
});

test('validate writes --output file', async () => {
  const folder = await mkdtemp(join(tmpdir(), 'cli-validate-'));
  try {
    const file = join(folder, 'report.json');
    const piped = capture(`${header}  email: a@example.com\n`);
    assert.is(await runValidate(['-', '--format', 'json', '--output', file], piped.io), 0);
    assert.is(piped.out(), '');
    const json = JSON.parse(await readFile(file, 'utf8')) as { valid: boolean };
    assert.is(json.valid, true);
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
});

test('README validate example passes', async () => {
  // The README's first validate command, which must run as written in this repository.
  const examples = fileURLToPath(new URL('../../examples/', import.meta.url));
  const result = capture();
  const code = await runValidate([examples, '--policy', join(examples, 'policy.yaml')], result.io);
  assert.is(code, 0, result.out());
  assert.match(result.out(), '3 ServiceAccounts, 1 Tenant checked, 0 problems');
  assert.not.match(result.out(), 'oldSelf');
});

test('--verbose lists update-only rules', async () => {
  const quiet = capture(`${header}  email: a@example.com\n`);
  assert.is(await runValidate(['-'], quiet.io), 0);
  assert.is(quiet.out(), '1 ServiceAccount checked, 0 problems, 0 other documents skipped\n');

  const verbose = capture(`${header}  email: a@example.com\n`);
  assert.is(await runValidate(['-', '--verbose'], verbose.io), 0);
  const lines = verbose.out().split('\n');
  assert.is(lines.filter((line) => line.startsWith('checked on update only: ')).length, 3);
});

test('wrong policy kind names the expected kind', async () => {
  const folder = await mkdtemp(join(tmpdir(), 'cli-validate-'));
  try {
    const policy = join(folder, 'policy.yaml');
    await writeFile(policy, 'kind: Policy\nrules: {}\n');
    const result = capture(`${header}  email: a@example.com\n`);
    assert.is(await runValidate(['-', '--policy', policy], result.io), 2);
    assert.match(result.err(), '"/kind": must be "ServiceAccountPolicy"');
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
});

test('empty stdin fails validate', async () => {
  for (const [name, text] of [
    ['nothing', ''],
    ['whitespace', '\n  \n'],
    ['a comment and separators', '# rendered by helm\n---\n---\n'],
  ] as const) {
    const piped = capture(text);
    assert.is(await runValidate(['-'], piped.io), 1, name);
    assert.match(piped.err(), 'stdin is empty: nothing to validate', name);
  }
  const json = capture('');
  assert.is(await runValidate(['-', '--format', 'json'], json.io), 1);
});

test('stdin with other documents passes', async () => {
  const piped = capture('apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n');
  assert.is(await runValidate(['-'], piped.io), 0, piped.err());
  assert.match(
    piped.out(),
    'no ServiceAccount or Tenant checked, 0 problems, 1 other document skipped',
  );
});

test('report counts are singular for one', async () => {
  const piped = capture(`${header}  email: nope\n`);
  assert.is(await runValidate(['-'], piped.io), 1);
  assert.match(piped.out(), '1 ServiceAccount checked, 1 problem, 0 other documents skipped');
});

test('validate reads stdin and prints JSON', async () => {
  const piped = capture(`${header}  email: nope\n`);
  assert.is(await runValidate(['-', '--format', 'json'], piped.io), 1);
  const json = JSON.parse(piped.out()) as { valid: boolean; findings: Array<{ file: string }> };
  assert.is(json.valid, false);
  assert.is(json.findings[0]?.file, '<stdin>');
});

test.run();
