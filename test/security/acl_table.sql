-- The rows of the function table in docs/security.md, as the database has them now: run it in a
-- database with pg_pulse and one project (psql -qAt -f test/security/acl_table.sql), review the
-- difference, and paste it between the function-acl markers. 50_functions.sql checks the page.
SET search_path = pulse, pg_catalog;
SELECT format('| `pulse.%s` | %s | %s |', p.oid::regprocedure::text,
       coalesce((SELECT string_agg(DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                                            WHEN r.rolname = 'pulse_admin' THEN 'pulse_admin'
                                            WHEN r.rolname LIKE '%\_reader' THEN 'project readers'
                                            ELSE r.rolname END, ', ')
                 FROM aclexplode(p.proacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee
                 WHERE a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner), 'nobody'),
       CASE WHEN p.prosecdef THEN 'definer' ELSE 'invoker' END)
  FROM pg_proc p WHERE p.pronamespace = 'pulse'::regnamespace ORDER BY p.oid::regprocedure::text;
