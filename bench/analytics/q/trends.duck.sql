SELECT d.d AS bucket, coalesce(x.n, 0)::DOUBLE AS value
  FROM (SELECT unnest(generate_series(TIMESTAMP '2024-01-15', TIMESTAMP '2024-02-13', INTERVAL 1 DAY)) AS d) d
  LEFT JOIN (SELECT date_trunc('day', _time) AS d, count(DISTINCT _user) AS n
               FROM visit
              WHERE _time >= TIMESTAMP '2024-01-15' AND _time < TIMESTAMP '2024-02-14'
                AND _user IS NOT NULL
              GROUP BY 1) x ON x.d = d.d
