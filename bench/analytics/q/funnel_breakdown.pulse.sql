SELECT breakdown, step, users, conversion_from_first, conversion_from_previous
  FROM pulse.funnel('an',
    '[{"collection": "visit"}, {"collection": "add_to_cart"}, {"collection": "purchase"}]',
    '2024-01-01 00:00+00', '2024-03-05 00:00+00', conversion_window => '1 day', breakdown => 'url')
