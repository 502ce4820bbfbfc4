WITH e AS (
  SELECT _user, date_trunc('day', _time AT TIME ZONE 'UTC') AS d, url::text AS bv FROM an.visit
   WHERE _time >= '2024-01-15 00:00+00' AND _time < '2024-02-14 00:00+00'
), r AS (   -- values ranked by their events; the first 10 keep their value, the rest are 'other'
  SELECT bv, row_number() OVER (ORDER BY count(*) DESC, bv) AS rk FROM e GROUP BY bv
), g AS (
  SELECT bv, CASE WHEN rk <= 10 THEN bv ELSE 'other' END AS grp, least(rk, 11) AS ord FROM r
)
SELECT grps.grp AS breakdown, dd.d AT TIME ZONE 'UTC' AS bucket, coalesce(x.n, 0)::float8 AS value
  FROM (SELECT DISTINCT ord, grp FROM g) grps
 CROSS JOIN generate_series(timestamp '2024-01-15', timestamp '2024-02-13', interval '1 day') AS dd(d)
  LEFT JOIN (SELECT g.ord, e.d, count(DISTINCT e._user) AS n
               FROM e JOIN g USING (bv) WHERE e._user IS NOT NULL GROUP BY 1, 2) x
    ON x.ord = grps.ord AND x.d = dd.d
