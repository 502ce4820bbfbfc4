WITH ev AS (
  SELECT _user AS u, _time AS t, 1 AS s, url FROM visit
   WHERE _time >= TIMESTAMP '2024-01-01' AND _time < TIMESTAMP '2024-03-05' AND _user IS NOT NULL
  UNION ALL
  SELECT _user, _time, 2, NULL FROM add_to_cart
   WHERE _time >= TIMESTAMP '2024-01-01' AND _time < TIMESTAMP '2024-03-05' AND _user IS NOT NULL
  UNION ALL
  SELECT _user, _time, 3, NULL FROM purchase
   WHERE _time >= TIMESTAMP '2024-01-01' AND _time < TIMESTAMP '2024-03-05' AND _user IS NOT NULL
), w1 AS (
  SELECT u, t, s, max(CASE WHEN s = 1 THEN t END) OVER w AS lv
    FROM ev WINDOW w AS (PARTITION BY u ORDER BY t, s ROWS UNBOUNDED PRECEDING)
), w2 AS (
  SELECT u, t, s, lv, max(CASE WHEN s = 2 THEN lv END) OVER w AS lc
    FROM w1 WINDOW w AS (PARTITION BY u ORDER BY t, s ROWS UNBOUNDED PRECEDING)
), lvl AS (
  SELECT u, t, s, CASE WHEN s = 1 THEN 1 WHEN s = 2 AND t - lv <= INTERVAL '1 day' THEN 2
                       WHEN s = 3 AND t - lc <= INTERVAL '1 day' THEN 3 ELSE 0 END AS l,
         CASE s WHEN 1 THEN t WHEN 2 THEN lv ELSE lc END AS st
    FROM w2
), counted AS (
  SELECT DISTINCT ON (u) u, l, st FROM lvl WHERE l > 0 ORDER BY u, l DESC, t, s
), per_user AS (
  SELECT c.u, c.l, x.b
    FROM counted c JOIN (SELECT u, t, min(url) AS b FROM ev WHERE s = 1 GROUP BY u, t) x ON x.u = c.u AND x.t = c.st
), per AS (
  SELECT b, step, count(*) FILTER (WHERE l >= step) AS users
    FROM per_user CROSS JOIN (VALUES (1), (2), (3)) AS g(step) GROUP BY b, step
)
SELECT b AS breakdown, step, users,
       users::DOUBLE / nullif(first_value(users) OVER (PARTITION BY b ORDER BY step), 0) AS conversion_from_first,
       users::DOUBLE / nullif(coalesce(lag(users) OVER (PARTITION BY b ORDER BY step), users), 0) AS conversion_from_previous
  FROM per
