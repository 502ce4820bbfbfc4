WITH ev AS (
  SELECT _user AS u, _time AS t, 1 AS s, url FROM an.visit
   WHERE _time >= '2024-01-01 00:00+00' AND _time < '2024-03-05 00:00+00' AND _user IS NOT NULL
  UNION ALL
  SELECT _user, _time, 2, NULL FROM an.add_to_cart
   WHERE _time >= '2024-01-01 00:00+00' AND _time < '2024-03-05 00:00+00' AND _user IS NOT NULL
  UNION ALL
  SELECT _user, _time, 3, NULL FROM an.purchase
   WHERE _time >= '2024-01-01 00:00+00' AND _time < '2024-03-05 00:00+00' AND _user IS NOT NULL
), w1 AS (   -- lv: the latest visit at or before each event
  SELECT u, t, s, max(t) FILTER (WHERE s = 1) OVER w AS lv
    FROM ev WINDOW w AS (PARTITION BY u ORDER BY t, s ROWS UNBOUNDED PRECEDING)
), w2 AS (   -- lc: the latest visit before the latest cart before each event (lv is monotone)
  SELECT u, t, s, lv, max(lv) FILTER (WHERE s = 2) OVER w AS lc
    FROM w1 WINDOW w AS (PARTITION BY u ORDER BY t, s ROWS UNBOUNDED PRECEDING)
), lvl AS (  -- each event's level and the start of the chain it completes
  SELECT u, t, s, CASE WHEN s = 1 THEN 1 WHEN s = 2 AND t - lv <= interval '1 day' THEN 2
                          WHEN s = 3 AND t - lc <= interval '1 day' THEN 3 ELSE 0 END AS l,
         CASE s WHEN 1 THEN t WHEN 2 THEN lv ELSE lc END AS st
    FROM w2
), counted AS (  -- each user's counted chain: the first (by completion) reaching the user's level
  SELECT DISTINCT ON (u) u, l, st FROM lvl WHERE l > 0 ORDER BY u, l DESC, t, s
), per_user AS (  -- its breakdown: the smallest url of the user's visits at the chain's start
  SELECT c.u, c.l, x.b
    FROM counted c JOIN (SELECT u, t, min(url) AS b FROM ev WHERE s = 1 GROUP BY u, t) x ON x.u = c.u AND x.t = c.st
), per AS (
  SELECT b, step, count(*) FILTER (WHERE l >= step) AS users
    FROM per_user, generate_series(1, 3) step GROUP BY b, step
)
SELECT b AS breakdown, step, users,
       users::float8 / nullif(first_value(users) OVER (PARTITION BY b ORDER BY step), 0) AS conversion_from_first,
       users::float8 / nullif(coalesce(lag(users) OVER (PARTITION BY b ORDER BY step), users), 0) AS conversion_from_previous
  FROM per
