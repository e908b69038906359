// The same count as `wordcount serial`, done by DuckDB (the in-process columnar engine that
// bench/job_bench.py compares with): words of the text column split on single spaces, counted.
//
// usage: node wordcount.mjs '<csv glob>' [--out FILE]
// Prints the top 3 as "word: count" lines and, on stderr, the query's own time in seconds
// ("query_seconds <s>"). --out writes every count as "count<TAB>word", sorted like serial's
// output (count descending, then word bytes ascending), with the word escaped the same way
// (\\ \t \n \r), so that the bench can compare the whole result byte for byte.
import { DuckDBInstance } from '@duckdb/node-api';
import { writeFileSync } from 'node:fs';

const [glob, ...rest] = process.argv.slice(2);
const out = rest[0] === '--out' ? rest[1] : null;
const instance = await DuckDBInstance.create(':memory:');
const conn = await instance.connect();
const quoted = glob.replaceAll("'", "''");
// The reference's rules (shared/reference.md): a field that is one of pandas' NA strings is the
// word "nan"; a text that is exactly "\n" is skipped; split on single spaces.
const na = ['', '#N/A', '#N/A N/A', '#NA', '-1.#IND', '-1.#QNAN', '-NaN', '-nan', '1.#IND', '1.#QNAN',
            '<NA>', 'N/A', 'NA', 'NULL', 'NaN', 'None', 'n/a', 'nan', 'null'];
const naList = na.map((s) => `'${s}'`).join(', ');
const sql = `
  CREATE TABLE counts AS
  SELECT w, count(*)::BIGINT AS c
  FROM (SELECT unnest(string_split(CASE WHEN text IS NULL OR text IN (${naList}) THEN 'nan'
                                        ELSE text END, ' ')) AS w
        FROM read_csv('${quoted}', header = true, all_varchar = true, quote = '"', escape = '"',
                      delim = ',', new_line = '\\n')
        WHERE text IS NULL OR text <> chr(10))
  GROUP BY w`;
const t0 = performance.now();
await conn.run(sql);
const top = (await conn.runAndReadAll('SELECT w, c FROM counts ORDER BY c DESC, w LIMIT 3')).getRows();
const seconds = (performance.now() - t0) / 1000;
for (const [w, c] of top) console.log(`${w}: ${c}`);
console.error(`query_seconds ${seconds.toFixed(3)}`);
if (out) {
  const rows = (await conn.runAndReadAll('SELECT w, c FROM counts')).getRows();
  const enc = new TextEncoder();
  const items = rows.map(([w, c]) => [enc.encode(w), BigInt(c), w]);
  items.sort((a, b) => {
    if (a[1] !== b[1]) return a[1] > b[1] ? -1 : 1;
    return Buffer.compare(Buffer.from(a[0]), Buffer.from(b[0]));
  });
  const esc = (w) => w.replaceAll('\\', '\\\\').replaceAll('\t', '\\t').replaceAll('\n', '\\n').replaceAll('\r', '\\r');
  writeFileSync(out, items.map(([, c, w]) => `${c}\t${esc(w)}\n`).join(''));
}
