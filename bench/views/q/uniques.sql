SELECT date_trunc('day', _time) AS day, event, count(*) AS events,
       hll_cardinality(hll_add_agg(hll_hash_text(_user))) AS users
  FROM bv.events
 GROUP BY 1, 2
