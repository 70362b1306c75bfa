/**
 * Offline checks of ServiceAccount and Tenant manifests: the CRDs' schemas and CEL rules, the
 * object metadata rules of Kubernetes, the operator's own refusals (two resources claiming one
 * account) and an optional team policy.
 */
import type { SourceDocument } from '../cli/yaml-documents.ts';
import { sourceScope, tenantScope } from '../controller/claim-index.ts';
import { defaultTenantAnnotation } from '../kube/types.ts';
import { type CelEvaluator, type CelSkip, checkCelRules, formatPath } from './cel.ts';
import { listMapIssues, type ResourceSchema, schemaIssues } from './crd-schema.ts';
import { checkPolicy, inactiveRules, type Policy } from './policy.ts';

/** API group of the operator's resources; other documents are skipped. */
export const iscGroup = 'isc.sailpoint';

/** Kind of check that produced a finding. */
export type FindingSource = 'yaml' | 'schema' | 'cel' | 'kubernetes' | 'operator' | 'policy';

/** A problem in one document, with enough position to find it in an editor. */
export interface Finding {
  file: string;
  /** Document position in its file, counting from 1. */
  document?: number;
  line?: number;
  /** `Kind namespace/name` when known. */
  resource?: string;
  /** Field path such as `spec.attributes.team`; empty for the whole document. */
  path: string;
  message: string;
  source: FindingSource;
  /** Policy rule name, or the CEL expression, that caught the problem. */
  rule?: string;
}

/** A ServiceAccount or Tenant found in the input. */
export interface CheckedResource {
  document: SourceDocument;
  kind: string;
  /** `namespace/name` for namespaced kinds, `name` otherwise. */
  key: string;
  /** The object with the CRD's defaults filled in, as the API server would store it. */
  object: Record<string, unknown>;
  /** False when any check other than the policy failed. */
  valid: boolean;
}

export interface ValidationReport {
  resources: CheckedResource[];
  findings: Finding[];
  /** Documents outside the `isc.sailpoint` group, or not Kubernetes objects at all. */
  skippedDocuments: number;
  /** Checks that did not run, each with the reason. */
  notChecked: string[];
  /**
   * CEL transition rules (reading `oldSelf`). The API server checks them on update only, against
   * the stored object, so they cannot fail a create and are not counted as gaps.
   */
  updateOnlyRules: string[];
}

export interface ValidationOptions {
  schemas: readonly ResourceSchema[];
  cel: CelEvaluator | undefined;
  policy?: Policy | undefined;
  /**
   * Tenant of the ServiceAccounts without spec.tenantRef (and without status.tenant). When
   * absent, it is the Tenant in the input annotated as default, else the one named "default",
   * as the operator resolves it.
   */
  defaultTenant?: string | undefined;
}

const dns1123Subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Runs every check on every document and returns the findings in input order. */
export function validateDocuments(
  documents: readonly SourceDocument[],
  options: ValidationOptions,
): ValidationReport {
  const report: ValidationReport = {
    resources: [],
    findings: [],
    skippedDocuments: 0,
    notChecked: [],
    updateOnlyRules: [],
  };
  const skippedRules = new Map<string, CelSkip>();

  for (const document of expandLists(documents)) {
    const object = document.value;
    if (
      !isRecord(object) ||
      typeof object.apiVersion !== 'string' ||
      typeof object.kind !== 'string'
    ) {
      report.skippedDocuments++;
      continue;
    }
    const [group, version] = object.apiVersion.includes('/')
      ? object.apiVersion.split('/', 2)
      : ['', object.apiVersion];
    if (group !== iscGroup) {
      report.skippedDocuments++;
      continue;
    }
    checkResource(document, object, version!, options, report, skippedRules);
  }

  checkDuplicates(report, options.defaultTenant);
  for (const [rule, skip] of skippedRules) {
    if (skip.transition) report.updateOnlyRules.push(`CEL rule ${rule}`);
    else report.notChecked.push(`CEL rule ${rule}: ${skip.reason}`);
  }
  const serviceAccountSchema = options.schemas.find((schema) => schema.kind === 'ServiceAccount');
  if (options.policy && serviceAccountSchema) {
    for (const rule of inactiveRules(options.policy, serviceAccountSchema.schema)) {
      report.notChecked.push(`policy rule ${rule}`);
    }
  }
  return report;
}

function checkResource(
  document: SourceDocument,
  object: Record<string, unknown>,
  version: string,
  options: ValidationOptions,
  report: ValidationReport,
  skippedRules: Map<string, CelSkip>,
): void {
  const kind = object.kind as string;
  const metadata = isRecord(object.metadata) ? object.metadata : {};
  const name = typeof metadata.name === 'string' ? metadata.name : '';
  const schema = options.schemas.find(
    (candidate) => candidate.kind === kind && candidate.version === version,
  );
  const namespaced = schema?.scope !== 'Cluster';
  const namespace = typeof metadata.namespace === 'string' ? metadata.namespace : '';
  const key = namespaced ? `${namespace || '(default namespace)'}/${name}` : name;
  const findingsBefore = report.findings.length;
  const add = (
    path: readonly (string | number)[],
    message: string,
    source: FindingSource,
    rule?: string,
  ) =>
    report.findings.push({
      file: document.file,
      document: document.index,
      line: document.lineOf(path),
      resource: `${kind} ${key}`,
      path: formatPath(path),
      message,
      source,
      ...(rule === undefined ? {} : { rule }),
    });

  if (!schema) {
    const served = options.schemas.map(
      (candidate) => `${candidate.kind} ${iscGroup}/${candidate.version}`,
    );
    add(
      ['kind'],
      `no CRD in crds/ serves kind ${kind} in ${iscGroup}/${version}; served: ${served.join(', ')}`,
      'schema',
    );
    return;
  }

  if (name === '') add(['metadata', 'name'], 'required value is missing', 'kubernetes');
  else if (name.length > 253 || !dns1123Subdomain.test(name)) {
    add(
      ['metadata', 'name'],
      'must be a lowercase DNS subdomain (a-z, 0-9, "-" and ".", at most 253 characters)',
      'kubernetes',
    );
  }
  if (!namespaced && namespace !== '') {
    // The API server drops the namespace without an error, so the manifest misstates the scope.
    add(
      ['metadata', 'namespace'],
      `${kind} is cluster-scoped and takes no namespace; remove metadata.namespace`,
      'kubernetes',
    );
  }
  if (namespaced && namespace !== '' && (namespace.length > 63 || !dns1123Label.test(namespace))) {
    add(
      ['metadata', 'namespace'],
      'must be a lowercase DNS label (a-z, 0-9 and "-", at most 63 characters)',
      'kubernetes',
    );
  }

  const defaulted = structuredClone(object);
  if (!schema.validate(defaulted)) {
    for (const issue of schemaIssues(schema.validate.errors))
      add(issue.path, issue.message, 'schema');
  }
  for (const issue of listMapIssues(schema.schema, defaulted)) {
    add(issue.path, issue.message, 'schema');
  }
  const cel = checkCelRules(schema.schema, defaulted, options.cel);
  for (const issue of cel.issues) add(issue.path, issue.message, 'cel', issue.rule);
  for (const skip of cel.skipped) skippedRules.set(`"${skip.rule}" on ${kind} ${skip.path}`, skip);

  const valid = report.findings.length === findingsBefore;
  if (kind === 'ServiceAccount' && options.policy) {
    for (const violation of checkPolicy(options.policy, defaulted)) {
      add(violation.path, violation.message, 'policy', violation.rule);
    }
  }
  report.resources.push({ document, kind, key, object: defaulted, valid });
}

/**
 * Reports a resource defined twice, and two ServiceAccounts that claim the same account id or
 * name on one tenant's source: the operator reconciles only the older claim (reason
 * DuplicateAccountId). ISC compares both without regard to case. Documents with other findings
 * take part too, because a duplicate remains after their other problems are fixed.
 */
function checkDuplicates(report: ValidationReport, defaultTenant: string | undefined): void {
  const scopes = claimScopes(report.resources, defaultTenant);
  const seen = new Map<string, CheckedResource>();
  const claims = new Map<string, { resource: CheckedResource; tenant: string }>();
  for (const resource of report.resources) {
    const identity = `${resource.kind} ${resource.key}`;
    const first = seen.get(identity);
    if (first) {
      pushFinding(
        report,
        resource,
        [],
        `${identity} is also defined in ${where(first)}`,
        'kubernetes',
      );
      continue;
    }
    seen.set(identity, resource);
    if (resource.kind !== 'ServiceAccount') continue;

    // An invalid document may lack any of these fields or give them the wrong type.
    const spec = isRecord(resource.object.spec) ? resource.object.spec : {};
    const metadata = isRecord(resource.object.metadata) ? resource.object.metadata : {};
    const accountName = spec.name ?? metadata.name;
    const candidates: Array<[string, (string | number)[], string]> = [];
    if (typeof accountName === 'string' && accountName !== '') {
      candidates.push([
        `name|${accountName.toLowerCase()}`,
        spec.name === undefined ? ['metadata', 'name'] : ['spec', 'name'],
        `account name "${accountName}"`,
      ]);
    }
    if (typeof spec.accountId === 'string') {
      candidates.push([
        `id|${spec.accountId.toLowerCase()}`,
        ['spec', 'accountId'],
        `account id "${spec.accountId}"`,
      ]);
    }
    const { tenant, scope } = scopes.of(resource);
    for (const [claim, path, what] of candidates) {
      const claimKey = `${scope}|${claim}`;
      const rival = claims.get(claimKey);
      if (rival) {
        const inTenant =
          rival.tenant === tenant
            ? tenantLabel(tenant)
            : `${tenantLabel(tenant)}, which uses the source of ${tenantLabel(rival.tenant)}`;
        pushFinding(
          report,
          resource,
          path,
          `${what} is also claimed by ServiceAccount ${rival.resource.key} ` +
            `(${where(rival.resource)}) in ${inTenant}; the operator reconciles only one of them`,
          'operator',
        );
      } else {
        claims.set(claimKey, { resource, tenant });
      }
    }
  }
}

/**
 * Resolves each ServiceAccount's Tenant as the operator does (spec.tenantRef, else
 * status.tenant, else the default Tenant) and returns the scope of its claims. A Tenant in the
 * input gives the scope of its source, so two Tenants on one source share it, and a Tenant
 * known by name only is a scope of its own.
 */
function claimScopes(resources: readonly CheckedResource[], defaultTenant: string | undefined) {
  const tenantScopes = new Map<string, string>();
  const markedDefault: string[] = [];
  for (const resource of resources) {
    if (resource.kind !== 'Tenant' || tenantScopes.has(resource.key)) continue;
    const spec = isRecord(resource.object.spec) ? resource.object.spec : {};
    const metadata = isRecord(resource.object.metadata) ? resource.object.metadata : {};
    const annotations = isRecord(metadata.annotations) ? metadata.annotations : {};
    if (annotations[defaultTenantAnnotation] === 'true') markedDefault.push(resource.key);
    const source = isRecord(spec.source) ? spec.source : {};
    const sourceName = typeof source.name === 'string' ? source.name : 'Service Accounts';
    if (typeof spec.baseUrl === 'string') {
      tenantScopes.set(resource.key, sourceScope(spec.baseUrl, sourceName));
    }
  }
  // NOTE: with several Tenants marked as default, the operator serves none of the
  // ServiceAccounts that name no Tenant, so those only compete with each other here.
  const implicitTenant =
    defaultTenant ?? (markedDefault.length > 1 ? '' : (markedDefault[0] ?? 'default'));

  return {
    of(resource: CheckedResource): { tenant: string; scope: string } {
      const spec = isRecord(resource.object.spec) ? resource.object.spec : {};
      const status = isRecord(resource.object.status) ? resource.object.status : {};
      const tenantRef = isRecord(spec.tenantRef) ? spec.tenantRef : {};
      let tenant = implicitTenant;
      if (typeof tenantRef.name === 'string') tenant = tenantRef.name;
      else if (typeof status.tenant === 'string') tenant = status.tenant;
      return { tenant, scope: tenantScopes.get(tenant) ?? tenantScope(tenant) };
    },
  };
}

function tenantLabel(tenant: string): string {
  return tenant === '' ? 'the default Tenant' : `Tenant "${tenant}"`;
}

function pushFinding(
  report: ValidationReport,
  resource: CheckedResource,
  path: (string | number)[],
  message: string,
  source: FindingSource,
): void {
  resource.valid = false;
  report.findings.push({
    file: resource.document.file,
    document: resource.document.index,
    line: resource.document.lineOf(path),
    resource: `${resource.kind} ${resource.key}`,
    path: formatPath(path),
    message,
    source,
  });
}

function where(resource: CheckedResource): string {
  return `${resource.document.file}:${resource.document.lineOf([])}`;
}

/** Replaces a `v1 List` document (as `kubectl get -o yaml` writes) by its items. */
function expandLists(documents: readonly SourceDocument[]): SourceDocument[] {
  const expanded: SourceDocument[] = [];
  for (const document of documents) {
    const value = document.value;
    if (
      !isRecord(value) ||
      value.apiVersion !== 'v1' ||
      value.kind !== 'List' ||
      !Array.isArray(value.items)
    ) {
      expanded.push(document);
      continue;
    }
    value.items.forEach((item, index) => {
      const prefix = ['items', index];
      expanded.push({
        ...document,
        value: item,
        line: document.lineOf(prefix),
        lineOf: (path) => document.lineOf([...prefix, ...path]),
      });
    });
  }
  return expanded;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
