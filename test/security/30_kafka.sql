-- A hostile delegated administrator (member of pulse_admin, not superuser) against Kafka
-- subscriptions: a subscription writes into its project, so its owner must also be a writer of
-- that project; librdkafka settings that run commands or load code are superuser-only,
-- settings that read server files need pg_read_server_files, everything else is an explicit
-- allowlist; the same checks run at subscribe time, at alter time and in the worker.
\ir lib.sql
SELECT plan(34);
SELECT pulse.kafka_unsubscribe(id) FROM pulse.kafka_subscriptions WHERE project IN ('sec_p', 'sec_q');

CREATE OR REPLACE FUNCTION sec.subscribe_as(r text, options text) RETURNS void LANGUAGE sql AS $$
  SELECT sec.value_as(r, format('SELECT pulse.kafka_subscribe(''sec_p'', ARRAY[''t''], ''127.0.0.1:9'', options => %L)::text', options))
$$;

-- pulse_admin alone manages subscriptions but cannot feed a project it does not write, and a
-- writer alone cannot subscribe
SELECT throws_ok($$SELECT sec.subscribe_as('sec_admin', '{}')$$, '42501', 'permission denied to write project "sec_p"',
                 'pulse_admin without the project''s writer role cannot subscribe it to a topic');
SELECT throws_ok($$SELECT sec.subscribe_as('sec_w', '{}')$$, '42501', NULL,
                 'the project''s writer without pulse_admin cannot subscribe it to a topic');
GRANT sec_p_writer TO sec_admin;

-- code and commands
SELECT throws_ok(format('SELECT sec.subscribe_as(''sec_admin'', %L)', o), '42501', NULL, 'refused to pulse_admin: ' || o)
  FROM unnest(ARRAY[
    '{"security.protocol": "sasl_plaintext", "sasl.mechanisms": "GSSAPI", "sasl.kerberos.kinit.cmd": "id > /tmp/pg_pulse_sec_kinit"}',
    '{"security.protocol": "sasl_plaintext", "sasl.mechanisms": "GSSAPI"}',
    '{"sasl.kerberos.principal": "x; id > /tmp/pg_pulse_sec_kinit"}',
    '{"plugin.library.paths": "/usr/lib/x86_64-linux-gnu/libz.so.1"}',
    '{"ssl.engine.location": "/tmp/engine.so"}',
    '{"ssl.providers": "legacy"}']) AS o;
-- server files
SELECT throws_ok(format('SELECT sec.subscribe_as(''sec_admin'', %L)', o), '42501', NULL, 'refused to pulse_admin: ' || o)
  FROM unnest(ARRAY['{"ssl.ca.location": "/etc/passwd"}', '{"ssl.key.location": "/etc/shadow"}',
                    '{"ssl.keystore.location": "/etc/passwd"}']) AS o;
-- settings pg_pulse manages, unknown ones, bad values, bad brokers
SELECT throws_ok(format('SELECT sec.subscribe_as(''sec_admin'', %L)', o), '22023', NULL, 'refused: ' || o)
  FROM unnest(ARRAY['{"enable.auto.commit": "true"}', '{"group.id": "other"}', '{"offset.store.path": "/tmp/x"}',
                    '{"interceptors": "x"}', '{"no.such.setting": "1"}', '{"session.timeout.ms": "soon"}',
                    '{"fetch.wait.max.ms": {"nested": 1}}']) AS o;
SELECT throws_ok($$SELECT sec.value_as('sec_admin', 'SELECT pulse.kafka_subscribe(''sec_p'', ARRAY[''t''], ''127.0.0.1:9; id'')::text')$$,
                 '22023', NULL, 'refused: a broker list that is not host:port entries');
SELECT ok(NOT EXISTS (SELECT FROM pulse.kafka_subscriptions WHERE project = 'sec_p'), 'no subscription came of the refused calls');

-- allowed settings work; files once the role may read server files, until that is revoked
SELECT lives_ok($$SELECT sec.subscribe_as('sec_admin', '{"session.timeout.ms": "6000", "security.protocol": "ssl", "ssl.ca.pem": "x"}')$$,
                'allowed settings are accepted');
GRANT pg_read_server_files TO sec_admin;
SELECT lives_ok($$SELECT sec.subscribe_as('sec_admin', '{"security.protocol": "ssl", "ssl.ca.location": "/etc/ssl/certs"}')$$,
                'file settings are accepted from a member of pg_read_server_files');
SELECT id AS sub FROM pulse.kafka_subscriptions WHERE project = 'sec_p' AND options ? 'ssl.ca.location' \gset
SELECT is((SELECT owner::text FROM pulse.kafka_subscriptions WHERE id = :sub), 'sec_admin', 'the subscription records its owner');
REVOKE pg_read_server_files FROM sec_admin;
SELECT throws_ok(format($$SELECT sec.value_as('sec_admin', 'SELECT pulse.kafka_alter(%s, batch_size => 10)::text')$$, :sub),
                 '42501', NULL, 'after the revoke, kafka_alter refuses to keep the file setting');
SELECT throws_ok(format($$SELECT sec.value_as('sec_admin', 'SELECT pulse.kafka_alter(%s, options => ''{"plugin.library.paths": "x"}'')::text')$$, :sub),
                 '42501', NULL, 'kafka_alter applies the same checks');
-- the worker checks again with the owner's privileges of now: it never connects
SELECT pulse.kafka_pause(:sub);
SELECT pulse.kafka_resume(:sub);
-- (the worker's earlier errors, e.g. the broker being unreachable, may show first)
CREATE OR REPLACE FUNCTION sec.wait_for_error(sub bigint, pattern text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE e text;
BEGIN
  FOR i IN 1..300 LOOP
    SELECT last_error INTO e FROM pulse.kafka_status WHERE subscription_id = sub AND last_error IS NOT NULL LIMIT 1;
    EXIT WHEN e ~ pattern;
    PERFORM pg_sleep(0.05);
  END LOOP;
  RETURN e;
END $$;
SELECT matches(sec.wait_for_error(:sub, 'permission denied'), 'permission denied to set Kafka setting "ssl.ca.location"',
               'the worker refuses the setting its owner may no longer use');

-- Avro schemas: administrators only
SELECT throws_ok($$SELECT sec.value_as('sec_w', 'SELECT pulse.register_avro_schema(''s'', ''{"type": "record", "name": "r", "fields": []}'')::text')$$,
                 '42501', NULL, 'a project writer cannot register Avro schemas');
SELECT lives_ok($$SELECT sec.value_as('sec_admin', 'SELECT pulse.register_avro_schema(''sec-s'', ''{"type": "record", "name": "r", "fields": []}'')::text')$$,
                'pulse_admin can');
SELECT throws_ok($$SELECT sec.value_as('sec_w', 'SELECT pulse.kafka_pause(1)::text')$$, '42501', NULL,
                 'a project writer cannot pause subscriptions');

-- the owner loses the project's writer role: nobody without it takes the subscription over, and
-- its worker stops writing
SELECT id AS sub1 FROM pulse.kafka_subscriptions WHERE project = 'sec_p' AND options ? 'ssl.ca.pem' \gset
REVOKE sec_p_writer FROM sec_admin;
SELECT throws_ok(format($$SELECT sec.value_as('sec_admin', 'SELECT pulse.kafka_alter(%s)::text')$$, :sub1),
                 '42501', 'permission denied to write project "sec_p"',
                 'pulse_admin without the project''s writer role cannot take a subscription over');
SELECT is((SELECT owner::text FROM pulse.kafka_subscriptions WHERE id = :sub1), 'sec_admin', 'the owner is unchanged');
SELECT pulse.kafka_pause(:sub1);
SELECT pulse.kafka_resume(:sub1);
SELECT matches(sec.wait_for_error(:sub1, 'may not write'),
               'the owner of the Kafka subscription, "sec_admin", may not write to project "sec_p"',
               'the worker refuses to write for an owner who lost the project''s writer role');
-- a superuser takes it over
SELECT pulse.kafka_alter(:sub1);
SELECT is((SELECT owner::text FROM pulse.kafka_subscriptions WHERE id = :sub1), current_user::text,
          'a superuser takes it over');

SELECT is(sec.escalated(), NULL, 'no role of the suite gained SUPERUSER or another attribute');
SELECT pulse.kafka_unsubscribe(id) FROM pulse.kafka_subscriptions WHERE project IN ('sec_p', 'sec_q');
SELECT * FROM finish();
SELECT sec.disconnect_all();
