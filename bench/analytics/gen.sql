-- bench/analytics/gen.sql: seeded synthetic events for project "an".
-- psql variables: n (events, approximate), users (n/10). 60 days from Monday 2024-01-01 UTC.
-- Each user gets a first-seen time t0; 80% sign up at t0. Visits (69% of n) follow t0 with a
-- decaying density (t0 + (end - t0) * r^2), heavy users via uid = 1 + floor(users * r^1.5).
-- 24% of visits lead to add_to_cart within 8 h, 33% of those to a purchase within 36 h
-- (a third of those beyond the 1-day funnel window), 15% of purchases to a return within 14 days.
SET timezone = 'UTC';
SELECT setseed(0.42);
CREATE UNLOGGED TABLE public.bench_users AS
  SELECT id, timestamptz '2024-01-01' + random() * interval '60 days' AS t0
    FROM generate_series(1, :users) id;
ALTER TABLE public.bench_users ADD PRIMARY KEY (id);
INSERT INTO an.signup (_time, _user, plan)
  SELECT t0, 'u' || id, CASE WHEN random() < 0.2 THEN 'pro' ELSE 'free' END
    FROM public.bench_users WHERE random() < 0.8 ORDER BY t0;
INSERT INTO an.visit (_time, _user, url)
  SELECT u.t0 + (timestamptz '2024-03-01' - u.t0) * g.r * g.r, 'u' || u.id, '/p' || g.p
    FROM (SELECT 1 + floor(:users * power(random(), 1.5))::int AS uid, random() AS r,
                 floor(random() * 20)::int AS p
            FROM generate_series(1, (:n * 0.69)::bigint)) g
    JOIN public.bench_users u ON u.id = g.uid
   ORDER BY 1;
INSERT INTO an.add_to_cart (_time, _user, sku)
  SELECT _time + random() * interval '8 hours', _user, 'sku' || floor(random() * 100)::int
    FROM an.visit WHERE random() < 0.24 ORDER BY 1;
INSERT INTO an.purchase (_time, _user, amount)
  SELECT _time + random() * interval '36 hours', _user, round((5 + random() * 95)::numeric, 2)
    FROM an.add_to_cart WHERE random() < 0.33 ORDER BY 1;
INSERT INTO an.return (_time, _user, reason)
  SELECT _time + random() * interval '14 days', _user, 'r' || floor(random() * 5)::int
    FROM an.purchase WHERE random() < 0.15 ORDER BY 1;
DROP TABLE public.bench_users;
