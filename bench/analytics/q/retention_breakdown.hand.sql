WITH c AS (   -- each user's cohorts, with the value of their first start event in the week
  SELECT DISTINCT ON (_user, b) _user AS u, b, plan::text AS bv
    FROM (SELECT _user, date_trunc('week', _time AT TIME ZONE 'UTC') AS b, _time, plan FROM an.signup
           WHERE _time >= '2024-01-01 00:00+00' AND _time < '2024-03-01 00:00+00' AND _user IS NOT NULL) s
   ORDER BY _user, b, _time, plan
), sz AS (
  SELECT bv, b, count(*) AS n FROM c GROUP BY bv, b
), v AS (   -- return events: only the weeks after the cohorts' that can count
  SELECT DISTINCT _user AS u, date_trunc('week', _time AT TIME ZONE 'UTC') AS b FROM an.visit
   WHERE _time >= '2024-01-01 00:00+00' AND _time < timestamptz '2024-03-01 00:00+00' + interval '8 weeks'
     AND _user IS NOT NULL
), r AS (
  SELECT c.bv, c.b, (extract(epoch FROM v.b - c.b) / 604800)::int AS k, count(*) AS n
    FROM c JOIN v ON v.u = c.u AND v.b > c.b AND v.b < c.b + interval '8 weeks'
   GROUP BY 1, 2, 3
)
SELECT sz.bv AS breakdown, sz.b AT TIME ZONE 'UTC' AS cohort_start, sz.n AS cohort_size, g.k AS period,
       CASE WHEN g.k = 0 THEN sz.n ELSE coalesce(r.n, 0) END AS users,
       CASE WHEN g.k = 0 THEN sz.n ELSE coalesce(r.n, 0) END::float8 / sz.n AS rate
  FROM sz CROSS JOIN generate_series(0, 7) AS g(k)
  LEFT JOIN r ON r.bv IS NOT DISTINCT FROM sz.bv AND r.b = sz.b AND r.k = g.k
