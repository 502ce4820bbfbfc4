SELECT date_trunc('hour', _time) AS hour, event, country, count(*) AS n, sum(revenue) AS revenue,
       avg(duration) AS avg_duration, max(duration) AS max_duration
  FROM bv.events
 GROUP BY 1, 2, 3
