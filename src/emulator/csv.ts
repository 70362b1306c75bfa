// CSV reading and writing for delimited-file sources, strictly by RFC 4180: fields are separated by
// commas, a field with a comma, quote or line break is double-quoted, and a quote inside it is
// doubled. Line breaks inside quoted fields are kept as sent (LF or CRLF).

/** Error for text that is not RFC 4180 CSV; `record` is the 1-based record number, header first. */
export class CsvSyntaxError extends Error {
  override name = 'CsvSyntaxError';
  readonly record: number;

  constructor(record: number, reason: string) {
    super(`CSV record ${record}: ${reason}`);
    this.record = record;
  }
}

/**
 * Parses CSV text into records of fields. Raises CsvSyntaxError for a quote inside an unquoted
 * field, text after a closing quote, or an unterminated quoted field. Blank lines are skipped.
 */
export function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  /** Whether the current field started with a quote, and whether that quote is still open. */
  let quotedField = false;
  let insideQuotes = false;
  let index = 0;
  const input = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const recordNumber = () => records.length + 1;

  const endField = () => {
    record.push(field);
    field = '';
    quotedField = false;
  };
  const endRecord = () => {
    const blank = record.length === 0 && field === '' && !quotedField;
    endField();
    if (!blank) records.push(record);
    record = [];
  };

  while (index < input.length) {
    const char = input[index]!;
    if (insideQuotes) {
      if (char === '"' && input[index + 1] === '"') {
        field += '"';
        index += 2;
        continue;
      }
      if (char === '"') insideQuotes = false;
      else field += char;
      index++;
      continue;
    }
    if (char === ',') {
      endField();
    } else if (char === '\n' || char === '\r') {
      endRecord();
      if (char === '\r' && input[index + 1] === '\n') index++;
    } else if (quotedField) {
      throw new CsvSyntaxError(recordNumber(), `unexpected '${char}' after a closing quote`);
    } else if (char === '"') {
      if (field !== '') {
        throw new CsvSyntaxError(
          recordNumber(),
          'a quote inside an unquoted field; quote the whole field and double the quote',
        );
      }
      quotedField = true;
      insideQuotes = true;
    } else {
      field += char;
    }
    index++;
  }
  if (insideQuotes) throw new CsvSyntaxError(recordNumber(), 'unterminated quoted field');
  if (field !== '' || quotedField || record.length > 0) endRecord();
  return records;
}

function quoteField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** Formats one CSV line without its line break. */
export function formatCsvLine(fields: string[]): string {
  return fields.map(quoteField).join(',');
}
