WITH ev AS (
  SELECT _user AS u, _time AS t, 1 AS s FROM visit
   WHERE _time >= TIMESTAMP '2024-01-01' AND _time < TIMESTAMP '2024-03-05' AND _user IS NOT NULL
  UNION ALL
  SELECT _user, _time, 2 FROM add_to_cart
   WHERE _time >= TIMESTAMP '2024-01-01' AND _time < TIMESTAMP '2024-03-05' AND _user IS NOT NULL
  UNION ALL
  SELECT _user, _time, 3 FROM purchase
   WHERE _time >= TIMESTAMP '2024-01-01' AND _time < TIMESTAMP '2024-03-05' AND _user IS NOT NULL
), w1 AS (
  SELECT u, t, s, max(CASE WHEN s = 1 THEN t END) OVER w AS lv
    FROM ev WINDOW w AS (PARTITION BY u ORDER BY t, s ROWS UNBOUNDED PRECEDING)
), w2 AS (
  SELECT u, t, s, lv, max(CASE WHEN s = 2 THEN lv END) OVER w AS lc
    FROM w1 WINDOW w AS (PARTITION BY u ORDER BY t, s ROWS UNBOUNDED PRECEDING)
), lvl AS (
  SELECT u, max(CASE WHEN s = 1 THEN 1
                     WHEN s = 2 AND t - lv <= INTERVAL '1 day' THEN 2
                     WHEN s = 3 AND t - lc <= INTERVAL '1 day' THEN 3 ELSE 0 END) AS l
    FROM w2 GROUP BY u
), per AS (
  SELECT 1 AS step, count(*) FILTER (WHERE l >= 1) AS users FROM lvl
  UNION ALL SELECT 2, count(*) FILTER (WHERE l >= 2) FROM lvl
  UNION ALL SELECT 3, count(*) FILTER (WHERE l >= 3) FROM lvl
)
SELECT step, users,
       users::DOUBLE / nullif(first_value(users) OVER (ORDER BY step), 0) AS conversion_from_first,
       users::DOUBLE / nullif(coalesce(lag(users) OVER (ORDER BY step), users), 0) AS conversion_from_previous
  FROM per
