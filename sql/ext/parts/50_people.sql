-- pg_pulse, part 50: persons, identity and erasure (docs/people.md).
--
-- Each project gets, on its first person operation, two tables in its schema (names starting
-- with _ are never collections):
--   <project>._persons     one row per person: _person (its id), _created, _updated,
--                          _identified, then one column per property (typed like a collection's)
--   <project>._person_ids  distinct_id -> person_id, flattened (every id points at its person,
--                          never at another id), so resolution is one lookup
-- Both are keyed by the person's id (a distributed project distributes them by it). Readers of
-- the project may SELECT them; only pg_pulse's functions write them.

-- Trigger of every <project>._person_ids (src/analytics/person_cache.cc): records the writing
-- transaction, when the row maps an id to another (and for TRUNCATE), for the backends that
-- keep a loaded mapping between reports (docs/people.md#the-mapping-cache).
CREATE FUNCTION pulse._person_ids_written() RETURNS trigger
  LANGUAGE c AS 'MODULE_PATHNAME', 'pulse_person_ids_written';

-- The transaction-scoped lock of project p's persons tables ('persons') or identity links
-- ('person_link'), in pg_pulse's own lock space (src/ingest/collect.cc).
CREATE FUNCTION pulse._lock_project(what text, p text) RETURNS void
  LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'pulse_lock_project';

-- Creates the persons tables of project p when missing; returns the persons table. Called by
-- pg_pulse's SECURITY DEFINER functions (runs as the extension owner).
CREATE FUNCTION pulse._ensure_persons(p text) RETURNS regclass
  LANGUAGE plpgsql SET search_path = pg_catalog, pulse, pg_temp AS $$
DECLARE
  t regclass := to_regclass(format('%I._persons', p));
  reader name;
BEGIN
  IF t IS NOT NULL THEN
    RETURN t;
  END IF;
  -- concurrent first uses: the second waits, then finds the tables
  PERFORM pulse._lock_project('persons', p);
  -- a new statement: its snapshot sees a creator that committed while this one waited
  SELECT c.oid INTO t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = p AND c.relname = '_persons';
  IF t IS NOT NULL THEN
    RETURN t;
  END IF;
  SELECT reader_role INTO reader FROM pulse.projects WHERE name = p;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'project "%" does not exist', p USING ERRCODE = '42704';
  END IF;
  EXECUTE format('CREATE TABLE %I._persons (_person text PRIMARY KEY, _created timestamptz NOT NULL DEFAULT now(),'
                 ' _updated timestamptz NOT NULL DEFAULT now(), _identified boolean NOT NULL DEFAULT false)', p);
  EXECUTE format('CREATE TABLE %I._person_ids (distinct_id text PRIMARY KEY, person_id text NOT NULL)', p);
  EXECUTE format('CREATE INDEX ON %I._person_ids (person_id)', p);
  -- ALWAYS: also in a replica and with session_replication_role = replica
  EXECUTE format('CREATE TRIGGER _pulse_written BEFORE INSERT OR UPDATE OR DELETE ON %I._person_ids'
                 ' FOR EACH ROW EXECUTE FUNCTION pulse._person_ids_written()', p);
  EXECUTE format('CREATE TRIGGER _pulse_truncated AFTER TRUNCATE ON %I._person_ids'
                 ' FOR EACH STATEMENT EXECUTE FUNCTION pulse._person_ids_written()', p);
  EXECUTE format('ALTER TABLE %I._person_ids ENABLE ALWAYS TRIGGER _pulse_written', p);
  EXECUTE format('ALTER TABLE %I._person_ids ENABLE ALWAYS TRIGGER _pulse_truncated', p);
  EXECUTE format('GRANT SELECT ON %I._persons, %I._person_ids TO %I', p, p, reader);
  EXECUTE format('COMMENT ON TABLE %I._persons IS %L', p,
                 format('pg_pulse persons of project %s: one row per person, a column per property', p));
  EXECUTE format('COMMENT ON TABLE %I._person_ids IS %L', p,
                 format('pg_pulse identity of project %s: each distinct id (an event''s _user) and its person', p));
  RETURN format('%I._persons', p)::regclass;
END
$$;

-- Every backend forgets, at commit, the ids it knows to be mapped in the mapping table
-- `mapping` (src/ingest/persons_seen.cc: ingestion skips the ids it knows; an erasure removed some).
CREATE FUNCTION pulse._persons_forget(mapping regclass) RETURNS void
  LANGUAGE c STRICT AS 'MODULE_PATHNAME', 'pulse_persons_forget';

-- Persons on first sight (src/ingest/persons_seen.cc): each of `ids` (distinct, sorted: every
-- caller inserts in one order) that has no mapping gets one to itself and its person row. Each
-- id is looked up through the index (a chunk's ids are few beside the mapping, which the planner
-- may not know yet); on_conflict: when a concurrent call may be mapping the same ids.
CREATE FUNCTION pulse._persons_seen(p text, ids text[], on_conflict boolean) RETURNS void
  LANGUAGE plpgsql SET search_path = pg_catalog, pulse, pg_temp
  SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off AS $$
DECLARE
  skip text := CASE WHEN on_conflict THEN ' ON CONFLICT DO NOTHING' ELSE '' END;
BEGIN
  EXECUTE format('WITH n AS (INSERT INTO %1$I._person_ids (distinct_id, person_id) SELECT u.u, u.u'
                 ' FROM unnest($1) WITH ORDINALITY AS u(u, k)'
                 ' WHERE NOT EXISTS (SELECT FROM %1$I._person_ids m WHERE m.distinct_id = u.u) ORDER BY u.k%2$s'
                 ' RETURNING distinct_id) INSERT INTO %1$I._persons (_person) SELECT distinct_id FROM n%2$s', p, skip)
    USING ids;
END
$$;

-- The ids of `ids` (distinct, sorted) that have no mapping, in their order: persons on first
-- sight then store those straight through the table routines (src/ingest/persons_seen.cc).
CREATE FUNCTION pulse._persons_unmapped(p text, ids text[]) RETURNS SETOF text
  LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pulse, pg_temp
  SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off AS $$
BEGIN
  RETURN QUERY EXECUTE format('SELECT u.u FROM unnest($1) WITH ORDINALITY AS u(u, k)'
                             ' WHERE NOT EXISTS (SELECT FROM %I._person_ids m WHERE m.distinct_id = u.u) ORDER BY u.k', p)
    USING ids;
END
$$;

CREATE FUNCTION pulse.person_update(project text, distinct_id text, ops jsonb,
                                    OUT person_id text, OUT rejected_fields bigint, OUT columns_added int)
  LANGUAGE c VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pulse, pg_temp
  AS 'MODULE_PATHNAME', 'pulse_person_update';

-- The person of distinct_id, created (with its mapping and row) when missing. Caller holds the
-- project's link lock.
CREATE FUNCTION pulse._person_of(p text, id text) RETURNS text
  LANGUAGE plpgsql SET search_path = pg_catalog, pulse, pg_temp AS $$
DECLARE
  person text;
BEGIN
  EXECUTE format('INSERT INTO %I._person_ids (distinct_id, person_id) VALUES ($1, $1) ON CONFLICT DO NOTHING', p)
    USING id;
  EXECUTE format('SELECT person_id FROM %I._person_ids WHERE distinct_id = $1', p) INTO person USING id;
  EXECUTE format('INSERT INTO %I._persons (_person) VALUES ($1) ON CONFLICT DO NOTHING', p) USING person;
  RETURN person;
END
$$;

-- The rows of a merge whose ids all point to winner already: winner's NULL properties filled
-- from loser's, the earlier _created kept, identified if either was; loser's row deleted.
CREATE FUNCTION pulse._person_merge_rows(p text, winner text, loser text) RETURNS void
  LANGUAGE plpgsql SET search_path = pg_catalog, pulse, pg_temp AS $$
DECLARE
  cols text;
BEGIN
  SELECT string_agg(format('%1$I = coalesce(w.%1$I, l.%1$I)', a.attname), ', ' ORDER BY a.attnum) INTO cols
    FROM pg_attribute a
   WHERE a.attrelid = format('%I._persons', p)::regclass AND a.attnum > 0 AND NOT a.attisdropped
     AND left(a.attname, 1) <> '_';
  EXECUTE format('UPDATE %1$I._persons AS w SET _created = least(w._created, l._created), _updated = now(),'
                 ' _identified = w._identified OR l._identified%2$s FROM %1$I._persons AS l'
                 ' WHERE w._person = $1 AND l._person = $2', p, coalesce(', ' || cols, '')) USING winner, loser;
  EXECUTE format('DELETE FROM %I._persons WHERE _person = $1', p) USING loser;
END
$$;

-- Links id `other` into the person of `id` (identify: other = the anonymous id, id = the user
-- id, whose person becomes identified). Returns the person, or NULL when refused: other's
-- person is another identified person and force is false. Merging moves every id of the
-- losing person to the winner (the mapping stays flat), fills the winner's NULL properties from
-- the loser's, keeps the earlier _created, and deletes the loser's row.
CREATE FUNCTION pulse._person_link(p text, id text, other text, identify boolean, force boolean) RETURNS text
  LANGUAGE plpgsql SET search_path = pg_catalog, pulse, pg_temp AS $$
DECLARE
  winner text;
  loser text;
  loser_identified boolean;
BEGIN
  IF id IS NULL OR other IS NULL OR id = '' OR other = '' THEN
    RAISE EXCEPTION 'ids to link must not be null or empty' USING ERRCODE = '22023';
  END IF;
  IF octet_length(id) > 1024 OR octet_length(other) > 1024 THEN   -- kMaxPersonIdBytes (src/ingest/persons.h)
    RAISE EXCEPTION 'ids to link must be at most 1024 bytes long' USING ERRCODE = '22023';
  END IF;
  PERFORM pulse._ensure_persons(p);
  -- links and erasures of one project run one at a time (person_update needs no such lock)
  PERFORM pulse._lock_project('person_link', p);
  winner := pulse._person_of(p, id);
  -- a new id joins the winner; an id that exists (or that person_update creates meanwhile:
  -- the insert waits for it) keeps its person for the merge below
  EXECUTE format('INSERT INTO %I._person_ids (distinct_id, person_id) VALUES ($1, $2) ON CONFLICT DO NOTHING', p)
    USING other, winner;
  EXECUTE format('SELECT person_id FROM %I._person_ids WHERE distinct_id = $1', p) INTO loser USING other;
  IF loser <> winner THEN
    EXECUTE format('SELECT _identified FROM %I._persons WHERE _person = $1', p) INTO loser_identified USING loser;
    IF coalesce(loser_identified, false) AND NOT force THEN
      RETURN NULL;
    END IF;
    EXECUTE format('UPDATE %I._person_ids SET person_id = $1 WHERE person_id = $2', p) USING winner, loser;
    PERFORM pulse._person_merge_rows(p, winner, loser);
  END IF;
  IF identify THEN
    EXECUTE format('UPDATE %I._persons SET _identified = true, _updated = now() WHERE _person = $1 AND NOT _identified', p)
      USING winner;
  END IF;
  RETURN winner;
END
$$;

-- The links of a chunk of events (ingestion with an event spec): pairs (ids[k] <- others[k])
-- in order, as _person_link(p, ids[k], others[k], identifies[k], false) one by one would make
-- them, with the common cases set-based: every id gets its person, an other id that is new
-- joins its id's person, identify marks the persons identified (all of them before any merge is
-- decided); only pairs whose ids belong to two persons go through _person_link. Returns the
-- (1-based) pairs refused.
-- Its statements look up a chunk's ids (thousands at most) in tables that grow with the project:
-- through their indexes always (a hash join over a scan of the whole table for each chunk, which
-- the planner picks as soon as it underestimates the chunk or has no statistics yet, made
-- ingestion slower with every chunk).
CREATE FUNCTION pulse._person_link_many(p text, ids text[], others text[], identifies boolean[]) RETURNS int[]
  LANGUAGE plpgsql SET search_path = pg_catalog, pulse, pg_temp SET enable_seqscan = off
  AS $$
DECLARE
  refused int[] := '{}';
  pos int[];  -- the (1-based) position of each remaining pair in the arguments
  r record;
  left_over boolean;
  merge_w text[];  -- the winners and losers of the set-based merge below
  merge_l text[];
  kept_w text[];   -- those of its losers that got a property meanwhile
  kept_l text[];
BEGIN
  PERFORM pulse._ensure_persons(p);
  PERFORM pulse._lock_project('person_link', p);
  -- only the pairs not made yet (a stream repeats its links: usually none are left)
  EXECUTE format('SELECT array_agg(u.i ORDER BY u.k), array_agg(u.o ORDER BY u.k), array_agg(u.f ORDER BY u.k),'
                 ' array_agg(u.k::int ORDER BY u.k)'
                 ' FROM unnest($1, $2, $3) WITH ORDINALITY AS u(i, o, f, k)'
                 ' LEFT JOIN %1$I._person_ids a ON a.distinct_id = u.i LEFT JOIN %1$I._person_ids b ON b.distinct_id = u.o'
                 ' LEFT JOIN %1$I._persons pa ON pa._person = a.person_id'
                 ' WHERE a.person_id IS NULL OR a.person_id IS DISTINCT FROM b.person_id OR (u.f AND NOT pa._identified)', p)
    INTO ids, others, identifies, pos USING ids, others, identifies;
  IF ids IS NULL THEN
    RETURN refused;
  END IF;
  EXECUTE format('INSERT INTO %1$I._person_ids (distinct_id, person_id) SELECT DISTINCT i, i FROM unnest($1) i'
                 ' ON CONFLICT DO NOTHING', p) USING ids;
  -- every id's person has its row, and the persons of identify calls are identified (before
  -- the merges below are decided): a new row is made identified (no second version of it), an
  -- existing one (or one a concurrent person_update made meanwhile) updated
  EXECUTE format('INSERT INTO %1$I._persons (_person, _identified) SELECT m.person_id, bool_or(u.f)'
                 ' FROM unnest($1, $2) AS u(i, f) JOIN %1$I._person_ids m ON m.distinct_id = u.i'
                 ' GROUP BY m.person_id ON CONFLICT DO NOTHING', p) USING ids, identifies;
  EXECUTE format('UPDATE %1$I._persons SET _identified = true, _updated = now() WHERE NOT _identified AND _person IN'
                 ' (SELECT m.person_id FROM unnest($1, $2) AS u(i, f) JOIN %1$I._person_ids m ON m.distinct_id = u.i WHERE u.f)', p)
    USING ids, identifies;
  -- new other ids that are not themselves ids of the chunk: their first pair's person
  EXECUTE format('INSERT INTO %1$I._person_ids (distinct_id, person_id)'
                 ' SELECT DISTINCT ON (u.o) u.o, m.person_id FROM unnest($1, $2) WITH ORDINALITY AS u(i, o, k)'
                 ' JOIN %1$I._person_ids m ON m.distinct_id = u.i'
                 ' WHERE NOT EXISTS (SELECT FROM unnest($1) AS x(i) WHERE x.i = u.o) ORDER BY u.o, u.k'
                 ' ON CONFLICT DO NOTHING', p) USING ids, others;
  -- merges with nothing to keep of the losing person, set-based: the other id is alone in its
  -- person, which is neither identified nor has a property (an id ingestion saw before its link:
  -- persons on first sight); it joins its first pair's person, which keeps the earlier _created.
  -- Pairs whose ids take part in other pairs of the chunk are left to the loop below.
  -- First the pairs to merge (merge_w, merge_l), and whether pairs whose ids belong to two
  -- persons are left besides them (every id is mapped by now: the pairs of `pa`; those of `t`
  -- merge nothing another pair depends on).
  EXECUTE format('WITH ii AS (SELECT DISTINCT i FROM unnest($1) AS i),'
                 ' oo AS (SELECT o, count(*) AS n FROM unnest($2) AS o GROUP BY o),'
                 ' pa AS (SELECT u.k, u.i, u.o, a.person_id AS w, b.person_id AS l'
                 '  FROM unnest($1, $2) WITH ORDINALITY AS u(i, o, k)'
                 '  JOIN %1$I._person_ids a ON a.distinct_id = u.i JOIN %1$I._person_ids b ON b.distinct_id = u.o'
                 ' WHERE a.person_id <> b.person_id),'
                 ' pairs AS (SELECT DISTINCT ON (pa.o) pa.i, pa.o, pa.w, pa.l FROM pa ORDER BY pa.o, pa.k),'
                 ' t AS (SELECT p.w, p.l FROM pairs p JOIN %1$I._persons lp ON lp._person = p.l'
                 ' WHERE p.l = p.o AND NOT lp._identified'
                 '   AND jsonb_strip_nulls(to_jsonb(lp) - ''{_person,_created,_updated,_identified}''::text[]) = ''{}'''
                 '   AND NOT EXISTS (SELECT FROM %1$I._person_ids x WHERE x.person_id = p.l AND x.distinct_id <> p.l)'
                 '   AND p.o NOT IN (SELECT i FROM ii)'
                 '   AND p.o NOT IN (SELECT o FROM oo WHERE n > 1)'
                 '   AND p.i NOT IN (SELECT o FROM oo) AND p.w NOT IN (SELECT o FROM oo))'
                 ' SELECT (SELECT count(*) FROM pa) > (SELECT count(*) FROM t),'
                 '  (SELECT array_agg(t.w ORDER BY t.l) FROM t), (SELECT array_agg(t.l ORDER BY t.l) FROM t)', p)
    INTO left_over, merge_w, merge_l USING ids, others;
  IF merge_l IS NOT NULL THEN
    -- the losers' ids locked first, in one order: person_update locks an id's mapping, then its
    -- person's row, and one that holds a loser's mapping is waited for here, before any row is
    -- touched (deleting the row first could deadlock with it)
    EXECUTE format('SELECT FROM %I._person_ids WHERE distinct_id = ANY($1) ORDER BY distinct_id FOR NO KEY UPDATE', p)
      USING merge_l;
    -- then, under a snapshot that sees what those updates committed: each loser's id moves to
    -- its winner, which keeps the earlier _created, and the loser's row is deleted if it is
    -- still empty; a loser that got a property meanwhile is kept, and merged below like any
    -- person with properties
    EXECUTE format('WITH u AS (SELECT * FROM unnest($1, $2) AS u(w, l)),'
                   ' m AS (UPDATE %1$I._person_ids x SET person_id = u.w FROM u WHERE x.distinct_id = u.l),'
                   ' c AS (UPDATE %1$I._persons w SET _created = least(w._created, lc.created), _updated = now()'
                   '  FROM (SELECT u.w, min(lp._created) AS created FROM u JOIN %1$I._persons lp ON lp._person = u.l'
                   '   GROUP BY u.w) lc WHERE w._person = lc.w),'
                   ' x AS (DELETE FROM %1$I._persons d USING u WHERE d._person = u.l AND NOT d._identified'
                   '   AND jsonb_strip_nulls(to_jsonb(d) - ''{_person,_created,_updated,_identified}''::text[]) = ''{}'''
                   '  RETURNING d._person)'
                   ' SELECT array_agg(u.w ORDER BY u.l), array_agg(u.l ORDER BY u.l) FROM u'
                   '  WHERE u.l NOT IN (SELECT _person FROM x)', p)
      INTO kept_w, kept_l USING merge_w, merge_l;
    FOR k IN 1 .. coalesce(cardinality(kept_l), 0) LOOP
      PERFORM pulse._person_merge_rows(p, kept_w[k], kept_l[k]);
    END LOOP;
  END IF;
  IF NOT left_over THEN
    RETURN refused;
  END IF;
  -- the rest, in order: pairs whose two ids still belong to two persons
  FOR r IN EXECUTE format('SELECT u.k::int AS k, u.i, u.o, u.f FROM unnest($1, $2, $3) WITH ORDINALITY AS u(i, o, f, k)'
                          ' LEFT JOIN %1$I._person_ids a ON a.distinct_id = u.i LEFT JOIN %1$I._person_ids b ON b.distinct_id = u.o'
                          ' WHERE a.person_id IS DISTINCT FROM b.person_id ORDER BY u.k', p) USING ids, others, identifies LOOP
    IF pulse._person_link(p, r.i, r.o, r.f, false) IS NULL THEN
      refused := refused || pos[r.k];
    END IF;
  END LOOP;
  RETURN refused;
END
$$;

-- Refusal of a link (force false and two identified persons): 55000 with the two persons.
CREATE FUNCTION pulse._person_link_checked(p text, id text, other text, identify boolean, force boolean) RETURNS text
  LANGUAGE plpgsql SET search_path = pg_catalog, pulse, pg_temp AS $$
DECLARE
  person text;
  other_person text;
BEGIN
  person := pulse._person_link(p, id, other, identify, coalesce(force, false));
  IF person IS NULL THEN
    EXECUTE format('SELECT person_id FROM %I._person_ids WHERE distinct_id = $1', p) INTO other_person USING other;
    RAISE EXCEPTION 'refusing to merge two identified persons' USING ERRCODE = '55000',
      DETAIL = format('%s belongs to identified person %s; %s to person %s.', left(other, 200), left(other_person, 200),
                      left(id, 200), left(pulse.person_id(p, id), 200)),
      HINT = 'Pass force => true to merge them (the second person''s ids and missing properties move to the first).';
  END IF;
  RETURN person;
END
$$;

-- pulse.identify(project, anonymous_id, user_id, force): anonymous_id's events and properties
-- become user_id's person's; that person is identified. Returns the person id.
CREATE FUNCTION pulse.identify(project text, anonymous_id text, user_id text, force boolean DEFAULT false) RETURNS text
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pulse, pg_temp AS $$
BEGIN
  PERFORM pulse._require_writer(project);
  RETURN pulse._person_link_checked(lower(project), user_id, anonymous_id, true, force);
END
$$;

-- pulse.alias(project, id, other, force): other becomes one more id of id's person (without
-- identifying it). Returns the person id.
CREATE FUNCTION pulse.alias(project text, id text, other text, force boolean DEFAULT false) RETURNS text
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pulse, pg_temp AS $$
BEGIN
  PERFORM pulse._require_writer(project);
  RETURN pulse._person_link_checked(lower(project), id, other, false, force);
END
$$;

-- The person of distinct_id (distinct_id itself when it is linked to none): the query-time
-- resolution of an event's _user. SECURITY INVOKER: callers need SELECT on <project>._person_ids.
CREATE FUNCTION pulse.person_id(project text, distinct_id text) RETURNS text
  LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pulse, pg_temp AS $$
DECLARE
  person text;
BEGIN
  IF to_regclass(format('%I._person_ids', lower(project))) IS NULL THEN
    RETURN distinct_id;
  END IF;
  EXECUTE format('SELECT person_id FROM %I._person_ids WHERE distinct_id = $1', lower(project))
    INTO person USING distinct_id;
  RETURN coalesce(person, distinct_id);
END
$$;

-- pulse.erase_person(project, distinct_id, anonymise): the events of every id of the person in
-- every collection of the project are deleted (anonymise: their _user becomes one fresh
-- pseudonym 'erased:<uuid>', other columns are kept), as are the person's row, its id mappings
-- and the rejected fields of its events. Views of the collections rebuild (DELETE and UPDATE
-- invalidate them). Returns the events deleted or anonymised.
CREATE FUNCTION pulse.erase_person(project text, distinct_id text, anonymise boolean DEFAULT false) RETURNS bigint
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pulse, pg_temp AS $$
DECLARE
  p text := lower(project);
  person text;
  ids text[];
  c text;
  n bigint;
  total bigint := 0;
  pseudonym text := 'erased:' || gen_random_uuid();
BEGIN
  PERFORM pulse._require_writer(p);
  IF distinct_id IS NULL OR distinct_id = '' THEN
    RAISE EXCEPTION 'distinct_id must not be null or empty' USING ERRCODE = '22023';
  END IF;
  PERFORM pulse._ensure_persons(p);
  PERFORM pulse._lock_project('person_link', p);
  person := pulse.person_id(p, distinct_id);
  EXECUTE format('SELECT array_agg(distinct_id ORDER BY distinct_id) FROM %I._person_ids WHERE person_id = $1', p)
    INTO ids USING person;
  ids := array(SELECT DISTINCT u FROM unnest(coalesce(ids, '{}') || ARRAY[distinct_id, person]) u);
  FOR c IN SELECT r.name FROM pulse.collection_registry r WHERE r.project = p ORDER BY r.name LOOP
    CONTINUE WHEN to_regclass(format('%I.%I', p, c)) IS NULL;
    IF coalesce(anonymise, false) THEN
      EXECUTE format('UPDATE %I.%I SET _user = $2 WHERE _user = ANY ($1)', p, c) USING ids, pseudonym;
    ELSE
      EXECUTE format('DELETE FROM %I.%I WHERE _user = ANY ($1)', p, c) USING ids;
    END IF;
    GET DIAGNOSTICS n = ROW_COUNT;
    total := total + n;
  END LOOP;
  DELETE FROM pulse.rejected_fields r WHERE r.project = p AND r.event_user = ANY (ids);
  EXECUTE format('DELETE FROM %I._person_ids WHERE person_id = $1 OR distinct_id = ANY ($2)', p) USING person, ids;
  EXECUTE format('DELETE FROM %I._persons WHERE _person = $1', p) USING person;
  -- the project's cohorts forget the person's ids at once, not at their next refresh (their
  -- stored state has the one text column of the cohort's query)
  DECLARE
    st regclass;
    col name;
  BEGIN
    FOR c IN SELECT r.name FROM pulse.cohort_registry r WHERE r.project = p ORDER BY r.name LOOP
      st := to_regclass(format('%I.%I', '_pulse_' || p, '_pulse_state_' || pulse._cohort_view(c)));
      CONTINUE WHEN st IS NULL;
      SELECT a.attname INTO col FROM pg_attribute a
       WHERE a.attrelid = st AND a.attnum > 0 AND NOT a.attisdropped AND a.atttypid = 'text'::regtype
       ORDER BY a.attnum LIMIT 1;
      CONTINUE WHEN col IS NULL;
      EXECUTE format('DELETE FROM %s WHERE %I = ANY ($1)', st, col) USING ids || person;
    END LOOP;
  END;
  -- ingestion creates the person again when its ids come back (persons on first sight)
  PERFORM pulse._persons_forget(format('%I._person_ids', p)::regclass);
  RETURN total;
END
$$;

-- pulse.set_track_persons(project, track): whether ingestion gives every _user it sees its
-- person row and id mapping (docs/people.md#persons-on-first-sight); on by default.
CREATE FUNCTION pulse.set_track_persons(project text, track boolean) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pulse, pg_temp AS $$
BEGIN
  PERFORM pulse._require_writer(project);
  IF track IS NULL THEN
    RAISE EXCEPTION 'track must not be null' USING ERRCODE = '22023';
  END IF;
  UPDATE pulse.projects SET track_persons = track WHERE name = lower(project);
END
$$;

-- Event specs (docs/people.md#event-specs) -----------------------------------------------------

-- Why an event spec argument is invalid, or NULL (for kafka_subscribe and set_event_spec).
CREATE FUNCTION pulse._event_spec_problem(spec text) RETURNS text
  LANGUAGE c IMMUTABLE AS 'MODULE_PATHNAME', 'pulse_event_spec_problem';

-- The event spec of the project's ingestion calls and subscriptions that name none: 'pulse',
-- 'segment', 'posthog', or a JSON object of dotted paths {"time": ..., "user": ..., "id": ...};
-- NULL: 'pulse'. With a collection: the spec of the calls and subscriptions that name that
-- (existing) collection and no spec; NULL: the project's.
CREATE FUNCTION pulse.set_event_spec(project text, spec text, collection text DEFAULT NULL) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pulse, pg_temp AS $$
DECLARE
  p text := lower(project);
  c text := lower(collection);
  problem text := pulse._event_spec_problem(spec);
BEGIN
  PERFORM pulse._require_writer(p);
  IF problem IS NOT NULL THEN
    RAISE EXCEPTION 'invalid event spec: %', problem USING ERRCODE = '22023',
      HINT = 'Use ''pulse'', ''segment'', ''posthog'', or a JSON object of dotted paths such as ''{"time": "meta.ts", "user": "actor.id"}''.';
  END IF;
  IF c IS NULL THEN
    UPDATE pulse.projects SET event_spec = nullif(spec, '') WHERE name = p;
    RETURN;
  END IF;
  UPDATE pulse.collection_registry r SET event_spec = nullif(spec, '') WHERE r.project = p AND r.name = c;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'collection "%" of project "%" does not exist', left(c, 200), p USING ERRCODE = '42P01',
      HINT = 'Create it first with pulse.create_collection.';
  END IF;
END
$$;
