WITH ev AS (
  SELECT _user AS u, _time AS t, 'add_to_cart' AS c FROM add_to_cart
   WHERE _time >= TIMESTAMP '2024-01-01' AND _time < TIMESTAMP '2024-03-05' AND _user IS NOT NULL
  UNION ALL SELECT _user, _time, 'purchase' FROM purchase
   WHERE _time >= TIMESTAMP '2024-01-01' AND _time < TIMESTAMP '2024-03-05' AND _user IS NOT NULL
  UNION ALL SELECT _user, _time, 'return' FROM "return"
   WHERE _time >= TIMESTAMP '2024-01-01' AND _time < TIMESTAMP '2024-03-05' AND _user IS NOT NULL
  UNION ALL SELECT _user, _time, 'signup' FROM signup
   WHERE _time >= TIMESTAMP '2024-01-01' AND _time < TIMESTAMP '2024-03-05' AND _user IS NOT NULL
  UNION ALL SELECT _user, _time, 'visit' FROM visit
   WHERE _time >= TIMESTAMP '2024-01-01' AND _time < TIMESTAMP '2024-03-05' AND _user IS NOT NULL
), prev AS (
  SELECT u, t, c, lag(t) OVER w AS pt, lag(c) OVER w AS pc
    FROM ev WINDOW w AS (PARTITION BY u ORDER BY t, c)
), marked AS (
  SELECT u, t, c, pc, CASE WHEN pt IS NULL OR t - pt > INTERVAL '30 minutes' THEN 1 ELSE 0 END AS new FROM prev
), sess AS (
  SELECT u, t, c, sum(new) OVER (PARTITION BY u ORDER BY t, c ROWS UNBOUNDED PRECEDING) AS s
    FROM marked WHERE new = 1 OR c <> pc
), steps AS (
  SELECT u, c AS source, lead(c) OVER w AS target, row_number() OVER w AS step
    FROM sess WINDOW w AS (PARTITION BY u, s ORDER BY t, c)
)
SELECT step::INT AS step, source, target, count(DISTINCT u) AS users
  FROM steps WHERE step <= 5 AND target IS NOT NULL
 GROUP BY step, source, target
