SELECT date_trunc('day', _time) AS day, event, count(*) AS events, count(_user) AS with_user,
       min(duration) AS min_duration, var_samp(duration) AS var_duration
  FROM bv.events
 GROUP BY 1, 2
