SELECT breakdown, cohort_start, cohort_size, period, users, rate
  FROM pulse.retention('an', '{"collection": "signup"}', '{"collection": "visit"}',
                       '2024-01-01 00:00+00', '2024-03-01 00:00+00', period => 'week', periods => 8,
                       breakdown => 'plan')
