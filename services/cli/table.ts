/**
 * Aligned text tables for the CLI's listings (`hayate ls`, `status`, `trigger ls`): a header row, columns
 * padded to their widest cell, two spaces between columns, no trailing blanks. `--json` bypasses them.
 */

/** A column: its header and how a row shows in it. */
export interface Column<Row> {
  header: string;
  cell: (row: Row) => string;
  /** Right-align (numbers). @default false */
  right?: boolean;
}

/**
 * Renders rows under their headers.
 * @param empty the line printed instead of a table without rows @default '(none)'
 */
export function table<Row>(columns: readonly Column<Row>[], rows: readonly Row[], empty = '(none)'): string {
  if (rows.length === 0) return empty;
  const cells = rows.map((row) => columns.map((c) => c.cell(row)));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (values: readonly string[]): string =>
    values
      .map((v, i) => (columns[i]?.right === true ? v.padStart(widths[i] ?? 0) : v.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join('\n');
}
