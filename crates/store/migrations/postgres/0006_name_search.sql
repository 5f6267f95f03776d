-- Finding people by any part of their name without reading every plan: a trigram index on
-- `search_name`, which PostgreSQL uses for `LIKE '%…%'` (pg_trgm, in PostgreSQL's contrib and
-- trusted since PostgreSQL 13). Where the extension cannot be installed, the search still works,
-- reading every plan, and a notice says why.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    EXECUTE 'CREATE INDEX IF NOT EXISTS plans_search_name_trgm ON plans USING gin (search_name gin_trgm_ops)';
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'name search reads every plan: the pg_trgm index could not be made (%)', SQLERRM;
END
$$;
