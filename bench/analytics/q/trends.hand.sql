SELECT d AT TIME ZONE 'UTC' AS bucket, coalesce(x.n, 0)::float8 AS value
  FROM generate_series(timestamp '2024-01-15', timestamp '2024-02-13', interval '1 day') AS d
  LEFT JOIN (SELECT d, count(*) AS n
               FROM (SELECT DISTINCT date_trunc('day', _time AT TIME ZONE 'UTC') AS d, _user
                       FROM an.visit
                      WHERE _time >= '2024-01-15 00:00+00' AND _time < '2024-02-14 00:00+00'
                        AND _user IS NOT NULL) du
              GROUP BY d) x USING (d)
