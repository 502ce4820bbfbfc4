// bench/analytics/duck.mjs DIR RUNS: loads DIR/<collection>.csv (exported from Postgres with
// COPY TO, _time as UTC timestamp) into an in-memory DuckDB, runs q/<analysis>.duck.sql once
// to warm up then RUNS times, and compares the answer with pg_pulse's (DIR/<analysis>.pulse.csv)
// with EXCEPT both ways. Prints one line per analysis: "<name> <best ms> <only_duck> <only_pulse>".
import { DuckDBInstance } from '@duckdb/node-api';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
const here = dirname(fileURLToPath(import.meta.url));
const [dir, runsArg] = process.argv.slice(2);
const runs = Number(runsArg || 3);
const inst = await DuckDBInstance.create(':memory:', { threads: String(process.env.DUCK_THREADS || 2) });
const con = await inst.connect();
const t0 = performance.now();
// (the breakdowns read visit.url and signup.plan; paths reads every collection)
const extra = { visit: `, 'url': 'VARCHAR'`, signup: `, 'plan': 'VARCHAR'` };
for (const c of ['visit', 'signup', 'add_to_cart', 'purchase', 'return']) {
  await con.run(`CREATE TABLE "${c}" AS SELECT * FROM read_csv('${join(dir, c + '.csv')}', header = true,
                 columns = {'_user': 'VARCHAR', '_time': 'TIMESTAMP'${extra[c] || ''}})`);
}
console.log(`load ${(performance.now() - t0).toFixed(0)}`);
// Columns compared per analysis (rates rounded to 12 digits, counts exact).
const cols = {
  funnel: `step::INT, users::BIGINT, round(conversion_from_first::DOUBLE, 12), round(conversion_from_previous::DOUBLE, 12)`,
  retention: `cohort_start::TIMESTAMP, cohort_size::BIGINT, period::INT, users::BIGINT, round(rate::DOUBLE, 12)`,
  trends: `bucket::TIMESTAMP, value::DOUBLE`,
  retention_breakdown: `breakdown::VARCHAR, cohort_start::TIMESTAMP, cohort_size::BIGINT, period::INT, users::BIGINT, round(rate::DOUBLE, 12)`,
  trends_breakdown: `breakdown::VARCHAR, bucket::TIMESTAMP, value::DOUBLE`,
  funnel_breakdown: `breakdown::VARCHAR, step::INT, users::BIGINT, round(conversion_from_first::DOUBLE, 12), round(conversion_from_previous::DOUBLE, 12)`,
  paths: `step::INT, source::VARCHAR, target::VARCHAR, users::BIGINT`,
};
for (const a of Object.keys(cols)) {
  const q = readFileSync(join(here, 'q', a + '.duck.sql'), 'utf8');
  let best = Infinity;
  for (let i = 0; i <= runs; i++) {
    const s = performance.now();
    const r = await con.runAndReadAll(q);
    r.getRows();
    const ms = performance.now() - s;
    if (i > 0) best = Math.min(best, ms);
  }
  await con.run(`CREATE OR REPLACE TABLE d_res AS ${q}`);
  await con.run(`CREATE OR REPLACE TABLE p_res AS SELECT * FROM read_csv('${join(dir, a + '.pulse.csv')}', header = true)`);
  const cnt = async (x, y) => (await con.runAndReadAll(
    `SELECT count(*) FROM (SELECT ${cols[a]} FROM ${x} EXCEPT ALL SELECT ${cols[a]} FROM ${y})`)).getRows()[0][0];
  const onlyD = await cnt('d_res', 'p_res'), onlyP = await cnt('p_res', 'd_res');
  const rows = (await con.runAndReadAll('SELECT count(*) FROM d_res')).getRows()[0][0];
  console.log(`${a} ${best.toFixed(1)} ${onlyD} ${onlyP} ${rows}`);
}
