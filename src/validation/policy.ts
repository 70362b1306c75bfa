/**
 * Team rules for ServiceAccounts beyond what the CRD enforces, declared in a YAML file (see
 * examples/policy.yaml) and applied by `validate` and `plan`.
 */
import { readFile } from 'node:fs/promises';
import { Ajv } from 'ajv';
import { parseDocument } from 'yaml';
import type { StructuralSchema } from './crd-schema.ts';

export interface Policy {
  /** E-mail domains allowed in spec.email; `*.example.com` admits every subdomain. */
  emailDomains?: string[];
  purpose?: { required?: boolean; minLength?: number };
  /** Regular expression the account name (spec.name, else metadata.name) must match. */
  namePattern?: string;
  /** Regular expression spec.accountId must match when it is set. */
  accountIdPattern?: string;
  /** Values no account column may hold, e.g. CSV formula prefixes. */
  forbiddenValues?: Array<{ name: string; pattern: string; fields?: string[]; message?: string }>;
  /** User levels that need an approval annotation on the resource. */
  approval?: { capabilities: string[]; annotation: string };
  tokens?: {
    maxAccessTokenValiditySeconds?: number;
    /** Longest PAT lifetime in spec.tokens[].validForDays; a token that never expires breaks it. */
    maxValidForDays?: number;
    forbiddenScopes?: string[];
  };
}

/** A policy rule that a ServiceAccount breaks. */
export interface PolicyViolation {
  /** Rule name as written in the policy file, e.g. `purpose.minLength`. */
  rule: string;
  path: (string | number)[];
  message: string;
}

/** Fields of the ServiceAccount spec that the user-level and token rules read. */
export const specFields = {
  capabilities: 'userLevel',
  tokens: 'tokens',
  tokenScopes: 'scopes',
  tokenValidity: 'accessTokenValiditySeconds',
  tokenLifetime: 'validForDays',
} as const;

/** The account columns a forbidden value is searched in when a rule names no fields. */
const accountColumns = ['name', 'accountId', 'email', 'purpose', 'attributes'];

/** An unreadable or invalid policy file: a usage error, reported before any document. */
export class PolicyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PolicyError';
  }
}

const policyFileSchema = {
  type: 'object',
  required: ['kind', 'rules'],
  additionalProperties: false,
  properties: {
    kind: { const: 'ServiceAccountPolicy' },
    metadata: { type: 'object' },
    rules: {
      type: 'object',
      additionalProperties: false,
      properties: {
        emailDomains: {
          type: 'array',
          minItems: 1,
          items: { type: 'string', pattern: '^(\\*\\.)?[A-Za-z0-9.-]+$' },
        },
        purpose: {
          type: 'object',
          additionalProperties: false,
          properties: { required: { type: 'boolean' }, minLength: { type: 'integer', minimum: 1 } },
        },
        namePattern: { type: 'string', minLength: 1 },
        accountIdPattern: { type: 'string', minLength: 1 },
        forbiddenValues: {
          type: 'array',
          items: {
            type: 'object',
            required: ['name', 'pattern'],
            additionalProperties: false,
            properties: {
              name: { type: 'string', minLength: 1 },
              pattern: { type: 'string', minLength: 1 },
              fields: { type: 'array', items: { enum: accountColumns } },
              message: { type: 'string' },
            },
          },
        },
        approval: {
          type: 'object',
          required: ['capabilities', 'annotation'],
          additionalProperties: false,
          properties: {
            capabilities: { type: 'array', minItems: 1, items: { type: 'string' } },
            annotation: { type: 'string', minLength: 1 },
          },
        },
        tokens: {
          type: 'object',
          additionalProperties: false,
          properties: {
            maxAccessTokenValiditySeconds: { type: 'integer', minimum: 1 },
            maxValidForDays: { type: 'integer', minimum: 1 },
            forbiddenScopes: { type: 'array', items: { type: 'string' } },
          },
        },
      },
    },
  },
};

const validatePolicyFile = new Ajv({ allErrors: true, strict: true }).compile(policyFileSchema);

/** Reads and checks a policy file; throws PolicyError naming the file and the first problem. */
export async function loadPolicy(path: string): Promise<Policy> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new PolicyError(`cannot read policy file "${path}": ${(error as Error).message}`);
  }
  return parsePolicy(text, path);
}

export function parsePolicy(text: string, path: string): Policy {
  const document = parseDocument(text);
  if (document.errors.length > 0) {
    throw new PolicyError(
      `policy file "${path}" is not valid YAML: ${document.errors[0]!.message}`,
    );
  }
  const content: unknown = document.toJS();
  if (!validatePolicyFile(content)) {
    const error = validatePolicyFile.errors![0]!;
    let detail = error.message;
    if (error.keyword === 'additionalProperties') {
      detail = `unknown field "${error.params.additionalProperty}"`;
    } else if (error.keyword === 'const') {
      detail = `must be ${JSON.stringify(error.params.allowedValue)}`;
    }
    throw new PolicyError(
      `policy file "${path}" is invalid at "${error.instancePath || '/'}": ${detail}`,
    );
  }
  const policy = (content as { rules: Policy }).rules;
  for (const [rule, pattern] of patternsOf(policy)) {
    try {
      new RegExp(pattern, 'u');
    } catch (error) {
      throw new PolicyError(
        `policy file "${path}": ${rule} is not a valid regular expression: ${(error as Error).message}`,
      );
    }
  }
  return policy;
}

function patternsOf(policy: Policy): Array<[string, string]> {
  const patterns: Array<[string, string]> = [];
  if (policy.namePattern) patterns.push(['namePattern', policy.namePattern]);
  if (policy.accountIdPattern) patterns.push(['accountIdPattern', policy.accountIdPattern]);
  for (const rule of policy.forbiddenValues ?? [])
    patterns.push([`forbiddenValues[${rule.name}]`, rule.pattern]);
  return patterns;
}

/**
 * Lists the policy rules that cannot apply because the ServiceAccount CRD lacks the field they
 * read, so that a report can list them as not checked.
 */
export function inactiveRules(policy: Policy, serviceAccountSchema: StructuralSchema): string[] {
  const declared = serviceAccountSchema.properties?.spec?.properties ?? {};
  const inactive: string[] = [];
  if (policy.approval && !(specFields.capabilities in declared)) {
    inactive.push(`approval: the ServiceAccount CRD has no spec.${specFields.capabilities}`);
  }
  if (policy.tokens && !(specFields.tokens in declared)) {
    inactive.push(`tokens: the ServiceAccount CRD has no spec.${specFields.tokens}`);
  }
  return inactive;
}

/** Applies every rule of the policy to one ServiceAccount object. */
export function checkPolicy(policy: Policy, resource: Record<string, unknown>): PolicyViolation[] {
  const metadata = asRecord(resource.metadata);
  const spec = asRecord(resource.spec);
  const violations: PolicyViolation[] = [];
  const add = (rule: string, path: (string | number)[], message: string) =>
    violations.push({ rule, path, message });

  const email = typeof spec.email === 'string' ? spec.email : undefined;
  if (policy.emailDomains && email !== undefined && !domainAllowed(email, policy.emailDomains)) {
    add(
      'emailDomains',
      ['spec', 'email'],
      `e-mail domain of "${email}" is not one of ${policy.emailDomains.join(', ')}`,
    );
  }

  const purpose = typeof spec.purpose === 'string' ? spec.purpose.trim() : '';
  if (policy.purpose?.required && purpose === '') {
    add('purpose.required', ['spec', 'purpose'], 'spec.purpose is required');
  } else if (
    policy.purpose?.minLength &&
    purpose !== '' &&
    [...purpose].length < policy.purpose.minLength
  ) {
    add(
      'purpose.minLength',
      ['spec', 'purpose'],
      `spec.purpose has ${[...purpose].length} characters; at least ${policy.purpose.minLength} are required`,
    );
  }

  const accountName = typeof spec.name === 'string' ? spec.name : String(metadata.name ?? '');
  if (policy.namePattern && !new RegExp(policy.namePattern, 'u').test(accountName)) {
    const path = typeof spec.name === 'string' ? ['spec', 'name'] : ['metadata', 'name'];
    add('namePattern', path, `account name "${accountName}" does not match ${policy.namePattern}`);
  }
  if (
    policy.accountIdPattern &&
    typeof spec.accountId === 'string' &&
    !new RegExp(policy.accountIdPattern, 'u').test(spec.accountId)
  ) {
    add(
      'accountIdPattern',
      ['spec', 'accountId'],
      `spec.accountId "${spec.accountId}" does not match ${policy.accountIdPattern}`,
    );
  }

  for (const rule of policy.forbiddenValues ?? []) {
    const pattern = new RegExp(rule.pattern, 'u');
    for (const [path, value] of columnValues(spec, rule.fields ?? accountColumns)) {
      if (!pattern.test(value)) continue;
      add(
        `forbiddenValues[${rule.name}]`,
        path,
        rule.message ??
          `value ${JSON.stringify(value)} matches the forbidden pattern ${rule.pattern}`,
      );
    }
  }

  violations.push(...checkApproval(policy, metadata, spec), ...checkTokens(policy, spec));
  return violations;
}

function checkApproval(
  policy: Policy,
  metadata: Record<string, unknown>,
  spec: Record<string, unknown>,
): PolicyViolation[] {
  const capabilities = spec[specFields.capabilities];
  if (!policy.approval || !Array.isArray(capabilities)) return [];
  const needing = capabilities.filter((capability) =>
    policy.approval!.capabilities.includes(String(capability)),
  );
  const approval = asRecord(metadata.annotations)[policy.approval.annotation];
  if (needing.length === 0 || (typeof approval === 'string' && approval.trim() !== '')) return [];
  return [
    {
      rule: 'approval',
      path: ['spec', specFields.capabilities],
      message: `user levels ${needing.join(', ')} need the annotation ${policy.approval.annotation} naming who approved them`,
    },
  ];
}

function checkTokens(policy: Policy, spec: Record<string, unknown>): PolicyViolation[] {
  const tokens = spec[specFields.tokens];
  if (!policy.tokens || !Array.isArray(tokens)) return [];
  const violations: PolicyViolation[] = [];
  tokens.forEach((entry, index) => {
    const token = asRecord(entry);
    const path = ['spec', specFields.tokens, index];
    const validity = token[specFields.tokenValidity];
    const maxValidity = policy.tokens!.maxAccessTokenValiditySeconds;
    if (maxValidity !== undefined && typeof validity === 'number' && validity > maxValidity) {
      violations.push({
        rule: 'tokens.maxAccessTokenValiditySeconds',
        path: [...path, specFields.tokenValidity],
        message: `access token validity ${validity} s exceeds the maximum of ${maxValidity} s`,
      });
    }
    const lifetime = token[specFields.tokenLifetime];
    const maxLifetime = policy.tokens!.maxValidForDays;
    if (maxLifetime !== undefined && !(typeof lifetime === 'number' && lifetime <= maxLifetime)) {
      violations.push({
        rule: 'tokens.maxValidForDays',
        path: [...path, specFields.tokenLifetime],
        message:
          typeof lifetime === 'number'
            ? `token validity of ${lifetime} days exceeds the maximum of ${maxLifetime} days`
            : `the token never expires; set validForDays to at most ${maxLifetime}`,
      });
    }
    const scopes = token[specFields.tokenScopes];
    const forbidden = Array.isArray(scopes)
      ? scopes.filter((scope) => policy.tokens!.forbiddenScopes?.includes(String(scope)))
      : [];
    if (forbidden.length > 0) {
      violations.push({
        rule: 'tokens.forbiddenScopes',
        path: [...path, specFields.tokenScopes],
        message: `scopes ${forbidden.join(', ')} are forbidden`,
      });
    }
  });
  return violations;
}

function domainAllowed(email: string, domains: readonly string[]): boolean {
  const at = email.lastIndexOf('@');
  if (at === -1) return false;
  const domain = email.slice(at + 1).toLowerCase();
  return domains.some((allowed) => {
    const pattern = allowed.toLowerCase();
    if (pattern.startsWith('*.')) return domain.endsWith(pattern.slice(1));
    return domain === pattern;
  });
}

/** Yields the string values of the named account columns, each attribute on its own. */
function columnValues(
  spec: Record<string, unknown>,
  fields: readonly string[],
): Array<[(string | number)[], string]> {
  const values: Array<[(string | number)[], string]> = [];
  for (const field of fields) {
    if (field === 'attributes') {
      for (const [name, value] of Object.entries(asRecord(spec.attributes))) {
        if (typeof value === 'string') values.push([['spec', 'attributes', name], value]);
      }
    } else if (typeof spec[field] === 'string') {
      values.push([['spec', field], spec[field] as string]);
    }
  }
  return values;
}

function asRecord(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}
