// The account file of a delimited-file source, as load-accounts takes it: RFC 4180 CSV whose
// header lists the account schema's attribute names in schema order.

import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';

/** One account row: attribute name -> value. Attributes the header lacks are not written. */
export type AccountRow = Readonly<Record<string, string>>;

/**
 * Renders an account file: the header, then one record per row in the given order, CRLF line
 * ends as RFC 4180 has them. Values are written exactly as given, line breaks and leading
 * `=`, `+`, `-`, `@` included, because ISC stores what the file contains. Fields that start
 * with one of those characters are quoted anyway, so the file shows them as text; neutralising
 * formulas is left to admission and team policies (see docs/decisions/csv-sync-mode.md).
 */
export function renderAccountsCsv(columns: readonly string[], rows: readonly AccountRow[]): string {
  const records = [[...columns], ...rows.map((row) => columns.map((name) => row[name] ?? ''))];
  return stringify(records, {
    record_delimiter: '\r\n',
    // csv-stringify quotes a field for a line break only when the break equals the record
    // delimiter, so fields with a bare LF or CR are matched here.
    quoted_match: /^[=+\-@\t]|[\r\n]/,
    cast: { string: (value) => value },
  });
}

/** A parsed account file: the header's column names and one row per record. */
export interface ParsedAccountsCsv {
  columns: string[];
  rows: Array<Record<string, string>>;
}

/**
 * Parses an account file, for example one exported from a spreadsheet or kept from an earlier
 * upload. A leading byte order mark is dropped, LF and CRLF line ends are both accepted, and
 * line breaks inside quoted fields are kept as they are. Raises an Error naming the line for
 * text that is not RFC 4180 CSV or a record whose field count differs from the header's.
 */
export function parseAccountsCsv(text: string): ParsedAccountsCsv {
  const records: string[][] = parse(text, {
    bom: true,
    relax_column_count: false,
    skip_empty_lines: false,
    record_delimiter: ['\r\n', '\n'],
  });
  const [header, ...body] = records;
  if (!header) return { columns: [], rows: [] };
  const rows = body.map((record) =>
    Object.fromEntries(header.map((name, index) => [name, record[index] ?? ''])),
  );
  return { columns: header, rows };
}
