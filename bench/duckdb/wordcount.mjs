// The same count as `wordcount serial`, done by DuckDB (the in-process columnar engine that
// bench/job_bench.py compares with): words of the text column split on single spaces, counted.
//
// usage: node wordcount.mjs '<csv glob>' [--out FILE]
// Prints the top 3 as "word: count" lines and, on stderr, the query's own time in seconds
// ("query_seconds <s>"). --out then writes every count as "count<TAB>word" with DuckDB's own
// sorted export (COPY ... ORDER BY count DESC, word), sorted like serial's output (count
// descending, then word bytes ascending) with the word escaped the same way (\\ \t \n \r),
// so that the bench can compare the whole result byte for byte ("export_seconds <s>").
import { DuckDBInstance } from '@duckdb/node-api';

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
  // DuckDB's own sorted export (COPY ... ORDER BY), escaped like the counts file; bytes order:
  // DuckDB compares VARCHAR by its UTF-8 bytes, like the counts file.
  const esc = "replace(replace(replace(replace(w, '\\', '\\\\'), chr(9), '\\t'), chr(10), '\\n'), chr(13), '\\r')";
  const path = out.replaceAll("'", "''");
  const t1 = performance.now();
  await conn.run(`COPY (SELECT c, ${esc} FROM counts ORDER BY c DESC, w) TO '${path}'
                  (FORMAT csv, DELIMITER '\t', HEADER false, QUOTE '', ESCAPE '')`);
  console.error(`export_seconds ${((performance.now() - t1) / 1000).toFixed(3)}`);
}
