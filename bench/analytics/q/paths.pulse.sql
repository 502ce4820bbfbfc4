SELECT step, source, target, users
  FROM pulse.paths('an', '2024-01-01 00:00+00', '2024-03-05 00:00+00')
