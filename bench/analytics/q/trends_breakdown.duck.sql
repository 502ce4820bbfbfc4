WITH e AS (
  SELECT _user, date_trunc('day', _time) AS d, url AS bv FROM visit
   WHERE _time >= TIMESTAMP '2024-01-15' AND _time < TIMESTAMP '2024-02-14'
), r AS (
  SELECT bv, row_number() OVER (ORDER BY count(*) DESC, bv) AS rk FROM e GROUP BY bv
), g AS (
  SELECT bv, CASE WHEN rk <= 10 THEN bv ELSE 'other' END AS grp, least(rk, 11) AS ord FROM r
)
SELECT grps.grp AS breakdown, dd.d AS bucket, coalesce(x.n, 0)::DOUBLE AS value
  FROM (SELECT DISTINCT ord, grp FROM g) grps
 CROSS JOIN (SELECT unnest(generate_series(TIMESTAMP '2024-01-15', TIMESTAMP '2024-02-13', INTERVAL 1 DAY)) AS d) dd
  LEFT JOIN (SELECT g.ord, e.d, count(DISTINCT e._user) AS n
               FROM e JOIN g USING (bv) WHERE e._user IS NOT NULL GROUP BY 1, 2) x
    ON x.ord = grps.ord AND x.d = dd.d
