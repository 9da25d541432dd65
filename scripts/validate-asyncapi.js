#!/usr/bin/env node
// Parses and validates an AsyncAPI document with @asyncapi/parser (the
// parser the AsyncAPI CLI uses): schema of the spec, $refs (relative files
// included) and the core ruleset. Exit 1 on any error diagnostic; warnings
// are printed. Usage: node scripts/validate-asyncapi.js docs/asyncapi.yaml
// (scripts/check-contracts.sh installs the parser and runs this).
'use strict';

const path = require('path');
const { Parser, fromFile, DiagnosticSeverity } = require('@asyncapi/parser');

async function main() {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: validate-asyncapi.js FILE');
    process.exit(2);
  }
  const parser = new Parser();
  const { document, diagnostics } = await fromFile(parser, path.resolve(file)).parse();
  const name = (s) => Object.keys(DiagnosticSeverity).find((k) => DiagnosticSeverity[k] === s) || s;
  let errors = 0;
  for (const d of diagnostics) {
    if (d.severity === DiagnosticSeverity.Error) errors += 1;
    const at = d.path && d.path.length ? d.path.join('.') : '(document)';
    console.log(`${file}: ${name(d.severity)} ${d.code}: ${d.message} at ${at}`);
  }
  if (errors > 0 || !document) {
    console.error(`${file}: INVALID AsyncAPI document (${errors} error(s))`);
    process.exit(1);
  }
  const channels = document.channels().length;
  const operations = document.operations().length;
  const messages = document.components().messages().length;
  console.log(`${file}: valid AsyncAPI ${document.version()} (${channels} channels, ${operations} operations, ${messages} component messages)`);
}

main().catch((e) => {
  console.error(`validate-asyncapi: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
