-- Finding people by any part of their name without reading every plan. `search_name` (given,
-- family and preferred names, lower case) goes into a trigram index (FTS5), which answers
-- `LIKE '%…%'` for three or more characters from the index; `plan_search_ids` gives each plan the
-- integer key FTS5 rows need (plans has a text key). Triggers keep both in step with `plans`,
-- whoever writes it; an edit of a plan that does not change the name touches neither.
CREATE TABLE plan_search_ids (
    n       INTEGER PRIMARY KEY,
    plan_id TEXT NOT NULL UNIQUE
);

CREATE VIRTUAL TABLE plan_names USING fts5 (search_name, tokenize = 'trigram');

INSERT INTO plan_search_ids (plan_id) SELECT id FROM plans;
INSERT INTO plan_names (rowid, search_name)
    SELECT s.n, p.search_name FROM plan_search_ids s JOIN plans p ON p.id = s.plan_id;

CREATE TRIGGER plan_names_insert AFTER INSERT ON plans BEGIN
    INSERT INTO plan_search_ids (plan_id) VALUES (new.id);
    INSERT INTO plan_names (rowid, search_name)
        VALUES ((SELECT n FROM plan_search_ids WHERE plan_id = new.id), new.search_name);
END;

CREATE TRIGGER plan_names_update AFTER UPDATE OF search_name ON plans
WHEN old.search_name IS NOT new.search_name BEGIN
    UPDATE plan_names SET search_name = new.search_name
    WHERE rowid = (SELECT n FROM plan_search_ids WHERE plan_id = new.id);
END;

CREATE TRIGGER plan_names_delete AFTER DELETE ON plans BEGIN
    DELETE FROM plan_names WHERE rowid = (SELECT n FROM plan_search_ids WHERE plan_id = old.id);
    DELETE FROM plan_search_ids WHERE plan_id = old.id;
END;
