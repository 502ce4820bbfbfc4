WITH ev AS (
  SELECT _user AS u, _time AS t, 'add_to_cart' AS c FROM an.add_to_cart
   WHERE _time >= '2024-01-01 00:00+00' AND _time < '2024-03-05 00:00+00' AND _user IS NOT NULL
  UNION ALL SELECT _user, _time, 'purchase' FROM an.purchase
   WHERE _time >= '2024-01-01 00:00+00' AND _time < '2024-03-05 00:00+00' AND _user IS NOT NULL
  UNION ALL SELECT _user, _time, 'return' FROM an.return
   WHERE _time >= '2024-01-01 00:00+00' AND _time < '2024-03-05 00:00+00' AND _user IS NOT NULL
  UNION ALL SELECT _user, _time, 'signup' FROM an.signup
   WHERE _time >= '2024-01-01 00:00+00' AND _time < '2024-03-05 00:00+00' AND _user IS NOT NULL
  UNION ALL SELECT _user, _time, 'visit' FROM an.visit
   WHERE _time >= '2024-01-01 00:00+00' AND _time < '2024-03-05 00:00+00' AND _user IS NOT NULL
), prev AS (   -- a session starts after a gap of more than 30 minutes; a repeated label is dropped
  SELECT u, t, c, lag(t) OVER w AS pt, lag(c) OVER w AS pc
    FROM ev WINDOW w AS (PARTITION BY u ORDER BY t, c)
), sess AS (
  SELECT u, t, c, new, sum(new) OVER (PARTITION BY u ORDER BY t, c ROWS UNBOUNDED PRECEDING) AS s
    FROM (SELECT u, t, c, pc, (pt IS NULL OR t - pt > interval '30 minutes')::int AS new FROM prev) x
   WHERE new = 1 OR c <> pc
), steps AS (  -- step k: the session's k-th event to its (k+1)-th
  SELECT u, c AS source, lead(c) OVER w AS target, row_number() OVER w AS step
    FROM sess WINDOW w AS (PARTITION BY u, s ORDER BY t, c)
)
SELECT step::int, source, target, count(DISTINCT u) AS users
  FROM steps WHERE step <= 5 AND target IS NOT NULL
 GROUP BY step, source, target
