WITH c AS (
  SELECT _user AS u, date_trunc('week', _time) AS b, arg_min(plan, (_time, plan)) AS bv FROM signup
   WHERE _time >= TIMESTAMP '2024-01-01' AND _time < TIMESTAMP '2024-03-01' AND _user IS NOT NULL
   GROUP BY 1, 2
), sz AS (
  SELECT bv, b, count(*) AS n FROM c GROUP BY bv, b
), v AS (
  SELECT DISTINCT _user AS u, date_trunc('week', _time) AS b FROM visit
   WHERE _time >= TIMESTAMP '2024-01-01' AND _time < TIMESTAMP '2024-03-01' + INTERVAL 56 DAY
     AND _user IS NOT NULL
), r AS (
  SELECT c.bv, c.b, (date_diff('day', c.b, v.b) // 7)::INT AS k, count(*) AS n
    FROM c JOIN v ON v.u = c.u AND v.b > c.b AND v.b < c.b + INTERVAL 56 DAY
   GROUP BY 1, 2, 3
)
SELECT sz.bv AS breakdown, sz.b AS cohort_start, sz.n AS cohort_size, k.k AS period,
       CASE WHEN k.k = 0 THEN sz.n ELSE coalesce(r.n, 0) END AS users,
       CASE WHEN k.k = 0 THEN sz.n ELSE coalesce(r.n, 0) END::DOUBLE / sz.n AS rate
  FROM sz CROSS JOIN range(0, 8) AS k(k) LEFT JOIN r ON r.bv IS NOT DISTINCT FROM sz.bv AND r.b = sz.b AND r.k = k.k
