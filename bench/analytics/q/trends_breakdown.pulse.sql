SELECT breakdown, bucket, value
  FROM pulse.trends('an', '{"collection": "visit"}', '2024-01-15 00:00+00', '2024-02-14 00:00+00',
                    'day', measure => 'unique_users', breakdown => 'url', breakdown_limit => 10)
