SELECT date_trunc('day', _time) AS day, country,
       count(*) FILTER (WHERE event = 'purchase') AS purchases,
       sum(revenue) AS revenue,
       sum(revenue) / nullif(count(*) FILTER (WHERE event = 'purchase'), 0) AS avg_order,
       count(duration) AS with_duration, min(duration) AS min_duration,
       stddev(duration) AS sd_duration, bool_or(revenue > 250) AS has_big_order
  FROM bv.events
 WHERE event <> 'logout'
 GROUP BY 1, 2
 HAVING count(*) > 0
