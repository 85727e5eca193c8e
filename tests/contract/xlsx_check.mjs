// Opens a reporting .xlsx with an independent reader (exceljs) and checks it.
// Run by tests/integration/test_reporting_*.c with: <file.xlsx> '<checks JSON>'
//   {"sheets": [names in order], "cells": [[sheet, "A1", value | "date:YYYY-MM-DD"]],
//    "rows": {sheet: row count incl. header}, "min_rows": {sheet: n}}
// Every sheet must have a frozen header row, bold headers and set column widths.
// A tool of those tests, not a test of its own (no test_ prefix: ctest does not run it).
import ExcelJS from 'exceljs';
import assert from 'node:assert/strict';

const [file, checksText] = process.argv.slice(2);
if (!file) {
  console.error('usage: node xlsx_check.mjs FILE.xlsx CHECKS_JSON');
  process.exit(2);
}
const checks = JSON.parse(checksText ?? '{}');
const wb = new ExcelJS.Workbook();
await wb.xlsx.readFile(file);
const names = wb.worksheets.map((w) => w.name);
if (checks.sheets) assert.deepEqual(names, checks.sheets, 'sheets');
for (const ws of wb.worksheets) {
  const view = ws.views?.[0] ?? {};
  assert.equal(view.state, 'frozen', `${ws.name}: frozen panes`);
  assert.equal(view.ySplit, 1, `${ws.name}: header row frozen`);
  assert.ok(ws.getRow(1).getCell(1).font?.bold, `${ws.name}: bold header`);
  for (let c = 1; c <= ws.getRow(1).cellCount; c++) {
    assert.ok(ws.getColumn(c).width > 0, `${ws.name}: width of column ${c}`);
  }
}
for (const [sheet, addr, want] of checks.cells ?? []) {
  const v = wb.getWorksheet(sheet).getCell(addr).value;
  if (typeof want === 'string' && want.startsWith('date:')) {
    assert.ok(v instanceof Date, `${sheet}!${addr} is a date, got ${JSON.stringify(v)}`);
    assert.equal(v.toISOString().slice(0, 10), want.slice(5), `${sheet}!${addr}`);
  } else {
    assert.deepEqual(v, want, `${sheet}!${addr}`);
  }
}
for (const [sheet, n] of Object.entries(checks.rows ?? {})) {
  assert.equal(wb.getWorksheet(sheet).actualRowCount, n, `${sheet}: rows`);
}
for (const [sheet, n] of Object.entries(checks.min_rows ?? {})) {
  assert.ok(wb.getWorksheet(sheet).actualRowCount >= n, `${sheet}: at least ${n} rows`);
}
console.log(`ok - ${file}: ${names.join(', ')}`);
