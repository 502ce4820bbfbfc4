WITH ev AS (
  SELECT _user AS u, _time AS t, 1 AS s FROM an.visit
   WHERE _time >= '2024-01-01 00:00+00' AND _time < '2024-03-05 00:00+00' AND _user IS NOT NULL
  UNION ALL
  SELECT _user, _time, 2 FROM an.add_to_cart
   WHERE _time >= '2024-01-01 00:00+00' AND _time < '2024-03-05 00:00+00' AND _user IS NOT NULL
  UNION ALL
  SELECT _user, _time, 3 FROM an.purchase
   WHERE _time >= '2024-01-01 00:00+00' AND _time < '2024-03-05 00:00+00' AND _user IS NOT NULL
), w1 AS (   -- lv: the latest visit at or before each event
  SELECT u, t, s, max(t) FILTER (WHERE s = 1) OVER w AS lv
    FROM ev WINDOW w AS (PARTITION BY u ORDER BY t, s ROWS UNBOUNDED PRECEDING)
), w2 AS (   -- lc: the latest visit before the latest cart before each event (lv is monotone)
  SELECT u, t, s, lv, max(lv) FILTER (WHERE s = 2) OVER w AS lc
    FROM w1 WINDOW w AS (PARTITION BY u ORDER BY t, s ROWS UNBOUNDED PRECEDING)
), lvl AS (
  SELECT u, max(CASE WHEN s = 1 THEN 1
                     WHEN s = 2 AND t - lv <= interval '1 day' THEN 2
                     WHEN s = 3 AND t - lc <= interval '1 day' THEN 3 ELSE 0 END) AS l
    FROM w2 GROUP BY u
), per AS (
  SELECT unnest(ARRAY[1, 2, 3]) AS step,
         unnest(ARRAY[count(*) FILTER (WHERE l >= 1), count(*) FILTER (WHERE l >= 2),
                      count(*) FILTER (WHERE l >= 3)]) AS users
    FROM lvl
)
SELECT step, users,
       users::float8 / nullif(first_value(users) OVER (ORDER BY step), 0) AS conversion_from_first,
       users::float8 / nullif(coalesce(lag(users) OVER (ORDER BY step), users), 0) AS conversion_from_previous
  FROM per
