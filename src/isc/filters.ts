/**
 * Builds ISC `filters` expressions. String values are always double-quoted with `\` and `"`
 * escaped, so a name containing quotes, spaces or operators cannot change the expression.
 * URL encoding of the result is left to the HTTP client's query-string handling.
 */

export type FilterValue = string | number | boolean;

function literal(value: FilterValue): string {
  if (typeof value !== 'string') return String(value);
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export function eq(field: string, value: FilterValue): string {
  return `${field} eq ${literal(value)}`;
}

export function within(field: string, values: readonly FilterValue[]): string {
  return `${field} in (${values.map(literal).join(',')})`;
}

/** Joins primitive comparisons. `and` binds tighter than `or`, so no parentheses are needed. */
export function and(...comparisons: string[]): string {
  return comparisons.join(' and ');
}
